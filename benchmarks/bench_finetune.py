"""Fine-tuning on real mammograms: the classifier's defaults against a plain PyTorch loop.

Issue 10's benchmark. ROIs: ``load_mias(task="tumour", output_size=128)`` on the
mini-MIAS subset; patient-grouped stratified 5-fold cross-validation (a woman's
films never straddle a fold); model: ImageNet EfficientNet-Lite0 at the ROIs'
own 128 px. Every candidate is fitted on the same training folds and scored on
the same test folds; the table gives pooled out-of-fold ROC AUC and F1 with
95% patient-bootstrap intervals (``skbreastcad.evaluation``), and the time.

Candidates:

- ``plain loop``: the reference, written directly in PyTorch as issue 10 gives
  it: AdamW 3e-4, weight decay 1e-4, 8 epochs, random flips and 90-degree
  turns, class-weighted cross-entropy, all training data, last epoch.
- ``defaults``: ``TwoStageTransferClassifier(backbone="efficientnet_lite0",
  input_size="native")``, everything else at its default.
- any ``--config NAME=JSON`` of extra classifier parameters, e.g.
  ``--config 'no-val={"validation_fraction": null, "early_stopping": null}'``.

A default chosen from this table must be chosen on these folds only by nested
cross-validation (``--inner``), never by looking at the outer test folds.

    .venv/bin/python benchmarks/bench_finetune.py [--mias ../shared/data/mias] [--quick]

On 2 CPU cores one 8-epoch fit of 320 ROIs at 128 px takes minutes; ``--quick``
(2 folds, 2 epochs, 120 ROIs) checks the script in about a minute.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from skbreastcad.datasets import load_mias
from skbreastcad.evaluation import evaluate_predictions

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


def classifier_scores(params, X_train, y_train, groups_train, X_test, *, seed, device):
    from skbreastcad.models import TwoStageTransferClassifier

    clf = TwoStageTransferClassifier(
        "efficientnet_lite0", input_size="native", random_state=seed, device=device
    ).set_params(**params)
    clf.fit(X_train, y_train, groups=groups_train)
    return clf.predict_proba(X_test)[:, 1]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mias", type=Path, default=DEFAULT_MIAS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the plain loop")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=JSON")
    parser.add_argument("--quick", action="store_true", help="2 folds, 2 epochs, 120 ROIs")
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args(argv)

    configs = {"defaults": {}}
    for item in args.config:
        name, _, text = item.partition("=")
        configs[name] = json.loads(text)
    data = load_mias(args.mias, task="tumour", output_size=128, random_state=args.seed)
    X, y, groups = data.images, data.target, data.groups
    folds, epochs = args.folds, args.epochs
    if args.quick:
        keep = np.isin(groups, np.unique(groups)[:30])
        X, y, groups = X[keep], y[keep], groups[keep]
        folds, epochs = 2, 2
        configs = {name: {**params, "max_epochs": 2} for name, params in configs.items()}
    print(
        f"{len(y)} ROIs ({int(y.sum())} tumour) of {len(np.unique(groups))} women, "
        f"{X.shape[1]} px, {folds} patient-grouped folds"
    )

    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=args.seed)
    rows, timings = [], {}
    for fold, (train, test) in enumerate(cv.split(X, y, groups)):
        split = (X[train], y[train], groups[train], X[test], args.seed + fold)
        candidates = {"plain loop": ("loop", None)}
        candidates.update({name: ("classifier", params) for name, params in configs.items()})
        for name, (kind, params) in candidates.items():
            X_train, y_train, g_train, X_test, seed = split
            start = time.perf_counter()
            if kind == "loop":
                scores = plain_loop_scores(
                    X_train, y_train, X_test, epochs=epochs, seed=seed, device=args.device
                )
            else:
                scores = classifier_scores(
                    params, X_train, y_train, g_train, X_test, seed=seed, device=args.device
                )
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
            rows.append(
                pd.DataFrame(
                    {
                        "sample": test,
                        "group": groups[test],
                        "fold": fold,
                        "candidate": name,
                        "y_true": y[test],
                        "score": scores,
                        "y_pred": (scores >= 0.5).astype(int),
                    }
                )
            )
            print(f"fold {fold} {name}: {timings[name]:.0f} s so far", flush=True)
    report = evaluate_predictions(
        pd.concat(rows, ignore_index=True),
        metrics=("roc_auc", "f1"),
        n_boot=args.n_boot,
        title="Fine-tuning on mini-MIAS: defaults vs a plain PyTorch loop",
    )
    table = report.results.pivot(
        index="candidate", columns="metric", values=["estimate", "ci_low", "ci_high"]
    )
    for name in table.index:
        cells = [
            f"{m} {table.loc[name, ('estimate', m)]:.3f} "
            f"[{table.loc[name, ('ci_low', m)]:.3f}, {table.loc[name, ('ci_high', m)]:.3f}]"
            for m in ("roc_auc", "f1")
        ]
        print(f"{name:>12}: {'  '.join(cells)}  ({timings[name]:.0f} s)")


if __name__ == "__main__":
    main()
