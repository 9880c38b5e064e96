"""Fine-tuning on real mammograms: the classifier's defaults against a plain PyTorch loop.

Issue 10's benchmark. ROIs: ``load_mias(task="tumour", output_size=128)`` on the
mini-MIAS subset; patient-grouped stratified 5-fold cross-validation (a woman's
films never straddle a fold); model: ImageNet EfficientNet-Lite0 at the ROIs'
own 128 px. Every candidate is fitted on the same training folds and scored on
the same test folds. The table gives the mean of the five folds' ROC AUCs and
the pooled out-of-fold ROC AUC and F1 (threshold 0.5), each with a 95%
patient-bootstrap interval (women redrawn within each test fold), and the time.

Two phases, each resumable (finished folds are kept in ``--output`` and skipped
when the command is run again; ``manifest.json`` there records the run's seed,
folds, epochs and data, and a command with other settings is refused, so a
``--quick`` run and a full one never share a folder):

``--phase inner`` (nested selection). For every outer fold, one
patient-grouped inner split of that fold's *training* women (3/4 train, 1/4
validation) scores each ``--inner NAME=JSON`` candidate. The outer test women
are never seen, so the winner of each fold is an honest choice.

``--phase outer``. Candidates:

- ``plain loop``: the reference, written directly in PyTorch as issue 10 gives
  it: AdamW 3e-4, weight decay 1e-4, 8 epochs, random flips and 90-degree
  turns, class-weighted cross-entropy, all training data, last epoch.
- ``defaults``: ``TwoStageTransferClassifier(backbone="efficientnet_lite0",
  input_size="native")``, everything else at its default; ``defaults + TTA``
  the same model averaged over the eight flips and turns
  (:class:`~skbreastcad.ensemble.TTAClassifier`); ``defaults x3 + TTA`` a
  :class:`~skbreastcad.ensemble.SeedEnsembleClassifier` of three seeds (whose
  first member is ``defaults``) under TTA.
- ``nested pick``: each fold's inner winner refitted on the fold's training
  women with the defaults' seed (the defaults' fit is reused where the
  winner's settings are the defaults), so its score estimates "choose by
  inner CV, then train".
- any ``--config NAME=JSON`` of extra classifier parameters.

    .venv/bin/python benchmarks/bench_finetune.py --phase inner \\
        --inner 'A={"augment": "flips"}' --inner 'B={"augment": "default"}'
    .venv/bin/python benchmarks/bench_finetune.py --phase outer

On 2 CPU cores one 8-epoch fit of 320 ROIs at 128 px takes about two minutes;
``--quick`` (2 folds, 2 epochs, 30 women) checks the script in a few minutes.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from skbreastcad.datasets import load_mias
from skbreastcad.evaluation import bootstrap_metrics, confidence_interval, evaluate_predictions

DEFAULT_MIAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mias"


def plain_loop_scores(X_train, y_train, X_test, *, epochs, seed, device="cpu", batch_size=32):
    """The reference loop of issue 10, returning P(tumour) for ``X_test``."""
    import torch
    import torch.nn.functional as F

    from skbreastcad.nn import build_backbone

    torch.manual_seed(seed)
    built = build_backbone("efficientnet_lite0", "imagenet", num_classes=2)
    model = built.model.to(device).train()
    mean = torch.tensor(built.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(built.std, device=device).view(1, 3, 1, 1)

    def prepare(batch):
        x = torch.as_tensor(batch, dtype=torch.float32, device=device)[:, None] / 255.0
        return (x.expand(-1, 3, -1, -1) - mean) / std

    counts = np.bincount(y_train, minlength=2).astype(float)
    weight = torch.tensor(counts.sum() / (2 * counts), dtype=torch.float32, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    y_all = torch.as_tensor(y_train, dtype=torch.long, device=device)
    for _ in range(epochs):
        order = torch.randperm(len(X_train), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x = prepare(X_train[idx.numpy()])
            # random flips and 90-degree turns, per image
            k = torch.randint(0, 4, (len(idx),), generator=generator)
            flip = torch.rand(len(idx), generator=generator) < 0.5
            x = torch.stack(
                [
                    torch.rot90(xi.flip(-1) if f else xi, int(ki), dims=(-2, -1))
                    for xi, f, ki in zip(x, flip, k)
                ]
            )
            loss = F.cross_entropy(model(x), y_all[idx.to(device)], weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(X_test), batch_size):
            out.append(model(prepare(X_test[start : start + batch_size])).softmax(1)[:, 1].cpu())
    return torch.cat(out).numpy().astype(float)


def make_classifier(params, *, seed, device):
    from skbreastcad.models import TwoStageTransferClassifier

    return TwoStageTransferClassifier(
        "efficientnet_lite0", input_size="native", random_state=seed, device=device
    ).set_params(**params)


def is_default(params):
    """Whether ``params`` train as the classifier's current defaults do.

    ``early_stopping`` is unused without a validation split, so it is ignored
    where both have ``validation_fraction=None``.
    """
    defaults = make_classifier({}, seed=None, device="cpu").get_params(deep=False)
    unused = set()
    if defaults["validation_fraction"] is None and params.get("validation_fraction") is None:
        unused.add("early_stopping")
    return all(defaults.get(key) == value for key, value in params.items() if key not in unused)


def parse_configs(items):
    configs = {}
    for item in items:
        name, _, text = item.partition("=")
        configs[name] = json.loads(text)
    return configs


def check_manifest(path, settings, phase):
    """Refuse to continue a results folder written with other settings: its
    finished folds would be mixed with folds of a different run."""
    manifest = json.loads(path.read_text()) if path.exists() else {}
    for key, value in settings.items():
        if key == "configs" and phase != "outer":
            continue
        if key in manifest and manifest[key] != value:
            raise SystemExit(
                f"{path.parent} holds a run with {key}={manifest[key]!r}, not {value!r}; "
                "use another --output."
            )
    manifest.update({k: v for k, v in settings.items() if v is not None})
    path.write_text(json.dumps(manifest, indent=1))


def load_rows(path):
    return pd.read_csv(path) if path.exists() else None


def append_rows(path, frame):
    """Append whole rows at once (a killed run never leaves half a fold)."""
    tmp = path.with_suffix(".tmp")
    old = load_rows(path)
    (frame if old is None else pd.concat([old, frame], ignore_index=True)).to_csv(tmp, index=False)
    tmp.replace(path)


def fold_auc_bootstrap(frame, n_boot, seed):
    """Mean of per-fold AUCs and its patient-bootstrap percentile interval.

    Each test fold's women are redrawn on their own (``bootstrap_metrics``);
    the r-th resamples of the folds are averaged.
    """
    estimates, draws = [], []
    for fold, f in frame.groupby("fold"):
        result = bootstrap_metrics(
            f.y_true.to_numpy(),
            scores=f.score.to_numpy(),
            groups=f.group.to_numpy(),
            metrics=["roc_auc"],
            n_boot=n_boot,
            method="percentile",
            random_state=seed + int(fold),
        )
        estimates.append(result.estimate["roc_auc"][0])
        draws.append(result.distribution["roc_auc"][:, 0])
    point = float(np.mean(estimates))
    low, high = confidence_interval(np.mean(draws, axis=0), np.array(point), method="percentile")
    return point, float(low), float(high)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mias", type=Path, default=DEFAULT_MIAS)
    parser.add_argument("--output", type=Path, default=Path("bench_finetune_results"))
    parser.add_argument("--phase", choices=("inner", "outer", "report"), default="outer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the plain loop")
    parser.add_argument("--inner", action="append", default=[], metavar="NAME=JSON")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=JSON")
    parser.add_argument("--seeds", type=int, default=3, help="members of the seed ensemble")
    parser.add_argument("--quick", action="store_true", help="2 folds, 2 epochs, 30 women")
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    data = load_mias(args.mias, task="tumour", output_size=128, random_state=args.seed)
    X, y, groups = data.images, data.target, data.groups
    folds, epochs = args.folds, args.epochs
    extra = {}
    if args.quick:
        keep = np.isin(groups, np.unique(groups)[:30])
        X, y, groups = X[keep], y[keep], groups[keep]
        folds, epochs, extra = 2, 2, {"max_epochs": 2}
    print(
        f"{len(y)} ROIs ({int(y.sum())} tumour) of {len(np.unique(groups))} women, "
        f"{X.shape[1]} px, {folds} patient-grouped folds",
        flush=True,
    )
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=args.seed)
    splits = list(cv.split(X, y, groups))
    inner_path = args.output / "inner.csv"
    outer_path = args.output / "outer_predictions.csv"
    check_manifest(
        args.output / "manifest.json",
        {
            "seed": args.seed,
            "folds": folds,
            "epochs": epochs,
            "quick": args.quick,
            "n_rois": len(y),
            "seeds": args.seeds,
            "configs": {item: item for item in sorted(args.config)}
            if args.phase == "outer"
            else None,
        },
        args.phase,
    )

    if args.phase == "inner":
        candidates = parse_configs(args.inner)
        for fold, (train, _) in enumerate(splits):
            inner_cv = StratifiedGroupKFold(4, shuffle=True, random_state=args.seed + fold)
            fit_idx, val_idx = next(inner_cv.split(X[train], y[train], groups[train]))
            fit_idx, val_idx = train[fit_idx], train[val_idx]
            for name, params in candidates.items():
                done = load_rows(inner_path)
                if done is not None:
                    same = (done.fold == fold) & (done.candidate == name)
                    if (same & (done.params == json.dumps(params))).any():
                        continue
                    if same.any():
                        raise SystemExit(
                            f"{inner_path} holds fold {fold} of {name!r} with other settings; "
                            "use another --output or another name."
                        )
                start = time.perf_counter()
                clf = make_classifier(
                    {**params, **extra}, seed=args.seed + fold, device=args.device
                )
                clf.fit(X[fit_idx], y[fit_idx], groups=groups[fit_idx])
                auc = roc_auc_score(y[val_idx], clf.predict_proba(X[val_idx])[:, 1])
                seconds = time.perf_counter() - start
                append_rows(
                    inner_path,
                    pd.DataFrame(
                        [
                            {
                                "fold": fold,
                                "candidate": name,
                                "params": json.dumps(params),
                                "inner_auc": auc,
                                "n_fit": len(fit_idx),
                                "n_val": len(val_idx),
                                "seconds": seconds,
                            }
                        ]
                    ),
                )
                print(f"inner fold {fold} {name}: AUC {auc:.3f} ({seconds:.0f} s)", flush=True)
        inner = load_rows(inner_path)
        print(inner.pivot(index="fold", columns="candidate", values="inner_auc").round(3))
        print("mean inner AUC:", inner.groupby("candidate").inner_auc.mean().round(3).to_dict())
        return

    if args.phase == "outer":
        from skbreastcad.ensemble import SeedEnsembleClassifier, TTAClassifier

        configs = parse_configs(args.config)
        inner = load_rows(inner_path)
        for fold, (train, test) in enumerate(splits):
            done = load_rows(outer_path)
            if done is not None and (done.fold == fold).any():
                continue
            seed = args.seed + fold
            scores, seconds = {}, {}
            start = time.perf_counter()
            scores["plain loop"] = plain_loop_scores(
                X[train], y[train], X[test], epochs=epochs, seed=seed, device=args.device
            )
            seconds["plain loop"] = time.perf_counter() - start
            print(f"fold {fold} plain loop: {seconds['plain loop']:.0f} s", flush=True)

            start = time.perf_counter()
            ensemble = SeedEnsembleClassifier(
                make_classifier(extra, seed=None, device=args.device),
                n_estimators=args.seeds,
                random_state=seed,
            ).fit(X[train], y[train], groups=groups[train])
            fit_seconds = (time.perf_counter() - start) / args.seeds
            first = ensemble.estimators_[0]
            start = time.perf_counter()
            scores["defaults"] = first.predict_proba(X[test])[:, 1]
            seconds["defaults"] = fit_seconds + time.perf_counter() - start
            start = time.perf_counter()
            tta = TTAClassifier(FrozenEstimator(first)).fit(X[train], y[train])
            scores["defaults + TTA"] = tta.predict_proba(X[test])[:, 1]
            seconds["defaults + TTA"] = fit_seconds + time.perf_counter() - start
            start = time.perf_counter()
            best = TTAClassifier(FrozenEstimator(ensemble)).fit(X[train], y[train])
            scores[f"defaults x{args.seeds} + TTA"] = best.predict_proba(X[test])[:, 1]
            seconds[f"defaults x{args.seeds} + TTA"] = (
                fit_seconds * args.seeds + time.perf_counter() - start
            )
            print(f"fold {fold} defaults: {fit_seconds:.0f} s per fit", flush=True)

            if inner is not None:
                rows = inner[inner.fold == fold]
                winner = rows.loc[rows.inner_auc.idxmax()]
                params = json.loads(winner.params)
                if is_default(params):
                    scores["nested pick"] = scores["defaults"]
                    seconds["nested pick"] = seconds["defaults"]
                else:
                    # the defaults' own seed, so that only the settings differ
                    start = time.perf_counter()
                    first_seed = int(ensemble.seeds_[0])
                    clf = make_classifier({**params, **extra}, seed=first_seed, device=args.device)
                    clf.fit(X[train], y[train], groups=groups[train])
                    scores["nested pick"] = clf.predict_proba(X[test])[:, 1]
                    seconds["nested pick"] = time.perf_counter() - start
                print(f"fold {fold} nested pick: {winner.candidate}", flush=True)

            for name, params in configs.items():
                start = time.perf_counter()
                clf = make_classifier({**params, **extra}, seed=seed, device=args.device)
                clf.fit(X[train], y[train], groups=groups[train])
                scores[name] = clf.predict_proba(X[test])[:, 1]
                seconds[name] = time.perf_counter() - start

            frame = pd.concat(
                [
                    pd.DataFrame(
                        {
                            "sample": test,
                            "group": groups[test],
                            "fold": fold,
                            "candidate": name,
                            "y_true": y[test],
                            "score": s,
                            "y_pred": (s >= 0.5).astype(int),
                            "seconds": seconds[name],
                        }
                    )
                    for name, s in scores.items()
                ],
                ignore_index=True,
            )
            append_rows(outer_path, frame)

    predictions = load_rows(outer_path)
    report = evaluate_predictions(
        predictions.drop(columns="seconds"),
        metrics=("roc_auc", "f1"),
        n_boot=args.n_boot,
        title="Fine-tuning on mini-MIAS: defaults vs a plain PyTorch loop",
    )
    table = report.results.pivot(
        index="candidate", columns="metric", values=["estimate", "ci_low", "ci_high"]
    )
    n_folds = predictions.fold.nunique()
    print(
        f"| candidate | mean of {n_folds} fold AUCs [95% CI] | pooled AUC [95% CI] "
        "| F1 [95% CI] | fit + predict time per fold |"
    )
    print("|---|---|---|---|---|")
    for name, frame in predictions.groupby("candidate", sort=False):
        mean, low, high = fold_auc_bootstrap(frame, args.n_boot, args.seed)
        cells = [
            f"{table.loc[name, ('estimate', m)]:.3f} "
            f"[{table.loc[name, ('ci_low', m)]:.3f}, {table.loc[name, ('ci_high', m)]:.3f}]"
            for m in ("roc_auc", "f1")
        ]
        per_fold = frame.groupby("fold").seconds.first().mean()
        print(
            f"| {name} | {mean:.3f} [{low:.3f}, {high:.3f}] | {cells[0]} | {cells[1]} | {per_fold:.0f} s |"
        )
    total = predictions.groupby(["candidate", "fold"]).seconds.first().groupby("candidate").sum()
    if {"plain loop", "defaults"} <= set(total.index):
        # issue 24's goal: at least 1.0x, the loop's time over the defaults' on the same folds
        print(
            f"\nspeed of the defaults' fit + predict against the plain loop's: "
            f"{total['plain loop'] / total['defaults']:.2f}x "
            f"({total['plain loop']:.0f} s / {total['defaults']:.0f} s over {n_folds} folds)"
        )
    aucs = predictions.groupby(["candidate", "fold"]).apply(
        lambda f: roc_auc_score(f.y_true, f.score), include_groups=False
    )
    print("\nper-fold AUC:\n", aucs.unstack().round(3))


if __name__ == "__main__":
    main()
