"""Speed of the patient bootstrap against a plain loop of scikit-learn metric calls.

Issue 8's workload: 2,000 bootstrap resamples x 10 candidates x 7 metrics (the
study's five, ROC AUC and average precision) on 5,000 samples from 500 patients,
on one CPU core (BLAS threads pinned to 1). Both sides run in this one run on the
same resamples (the same patient counts from the same seed):

- ours: :func:`skbreastcad.evaluation.bootstrap_metrics` (percentile intervals,
  the resampling itself; BCa adds a jackknife and is timed separately);
- the plain loop: for each resample, the rows of the drawn patients (a patient
  drawn twice, twice) and, per candidate, ``accuracy_score``, ``precision_score``,
  ``recall_score``, ``specificity_score``, ``f1_score``, ``roc_auc_score`` and
  ``average_precision_score``. By default it runs ``--loop-resamples`` of the
  2,000 resamples and its time is scaled to 2,000 (the loop's cost is the same for
  every resample); ``--full-loop`` runs all of them (minutes). Its values are
  checked equal to ours on the resamples it ran.

Usage::

    python benchmarks/bench_evaluation.py
    python benchmarks/bench_evaluation.py --full-loop
"""

import argparse
import os

# one core, pinned before numpy loads its BLAS
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402  (after the thread settings above)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

METRICS = (
    "accuracy",
    "precision",
    "sensitivity",
    "specificity",
    "f1",
    "roc_auc",
    "average_precision",
)


def make_data(n_samples, n_patients, n_candidates, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.sort(rng.integers(0, n_patients, n_samples))
    y = (rng.random(n_samples) < 0.3).astype(int)
    patient = rng.normal(size=n_patients)[groups]
    strength = np.linspace(0.5, 2.0, n_candidates)[:, None]
    scores = 1 / (
        1 + np.exp(-(strength * y + patient + rng.normal(size=(n_candidates, n_samples)) - 1))
    )
    y_pred = (scores >= 0.5).astype(int)
    return y, scores, y_pred, groups


def sklearn_loop(y, scores, y_pred, groups, counts):
    from imblearn.metrics import specificity_score
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    members = [np.flatnonzero(groups == g) for g in range(counts.shape[1])]
    out = np.empty((len(counts), len(scores), len(METRICS)))
    for b, row in enumerate(counts):
        idx = np.concatenate([np.tile(members[g], k) for g, k in enumerate(row) if k])
        yt = y[idx]
        for c in range(len(scores)):
            p, s = y_pred[c, idx], scores[c, idx]
            out[b, c] = (
                accuracy_score(yt, p),
                precision_score(yt, p, zero_division=0),
                recall_score(yt, p, zero_division=0),
                specificity_score(yt, p),
                f1_score(yt, p, zero_division=0),
                roc_auc_score(yt, s),
                average_precision_score(yt, s),
            )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--n-candidates", type=int, default=10)
    parser.add_argument("--n-samples", type=int, default=5000)
    parser.add_argument("--n-patients", type=int, default=500)
    parser.add_argument(
        "--loop-resamples", type=int, default=40, help="resamples the plain loop runs"
    )
    parser.add_argument(
        "--full-loop", action="store_true", help="run the plain loop on every resample"
    )
    args = parser.parse_args(argv)

    from skbreastcad.evaluation import bootstrap_counts, bootstrap_metrics

    y, scores, y_pred, groups = make_data(args.n_samples, args.n_patients, args.n_candidates)
    print(
        f"{args.n_boot} resamples x {args.n_candidates} candidates x {len(METRICS)} metrics, "
        f"{args.n_samples} samples from {args.n_patients} patients, one core"
    )

    def timed(func):
        # wall time, and CPU time of this process: on a shared machine the wall time
        # includes waiting for the core, the CPU time is what one dedicated core needs
        wall, cpu = time.perf_counter(), time.process_time()
        result = func()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    with threadpool_limits(1):
        ours, w_ours, t_ours = timed(
            lambda: bootstrap_metrics(
                y,
                scores=scores,
                y_pred=y_pred,
                groups=groups,
                metrics=METRICS,
                n_boot=args.n_boot,
                method="percentile",
                random_state=0,
            )
        )
        _, w_bca, t_bca = timed(
            lambda: bootstrap_metrics(
                y,
                scores=scores,
                y_pred=y_pred,
                groups=groups,
                metrics=METRICS,
                n_boot=args.n_boot,
                method="bca",
                random_state=0,
            )
        )
        # the same patient counts as ours drew (groups are 0..n_patients-1 here)
        counts, _ = bootstrap_counts(groups, args.n_patients, args.n_boot, y=y, random_state=0)
        n_loop = args.n_boot if args.full_loop else min(args.loop_resamples, args.n_boot)
        ref, w_loop_part, t_loop_part = timed(
            lambda: sklearn_loop(y, scores, y_pred, groups, counts[:n_loop])
        )
    t_loop = t_loop_part * args.n_boot / n_loop
    w_loop = w_loop_part * args.n_boot / n_loop

    mine = np.stack([ours.distribution[m][:n_loop] for m in METRICS], axis=-1)
    max_diff = float(np.abs(mine - ref).max())
    assert max_diff < 1e-10, f"bootstrap values differ from scikit-learn's by {max_diff}"

    print(f"{'':44}{'CPU s':>9}{'wall s':>9}")
    print(f"{'skbreastcad bootstrap_metrics (percentile)':44}{t_ours:9.2f}{w_ours:9.2f}")
    print(f"{'skbreastcad bootstrap_metrics (BCa)':44}{t_bca:9.2f}{w_bca:9.2f}")
    scaled = (
        "" if n_loop == args.n_boot else f"  ({n_loop} resamples: {t_loop_part:.2f} s CPU, scaled)"
    )
    print(f"{'plain scikit-learn loop':44}{t_loop:9.2f}{w_loop:9.2f}{scaled}")
    print(
        f"speed-up (CPU): percentile {t_loop / t_ours:.1f}x, BCa {t_loop / t_bca:.1f}x; "
        f"(wall): percentile {w_loop / w_ours:.1f}x"
    )
    print(f"values equal to scikit-learn's on {n_loop} resamples (max |diff| {max_diff:.1e})")
    print(
        f"target: >= 20x and <= 5 s -> {'met' if t_loop / t_ours >= 20 and t_ours <= 5 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
