"""Per-class FROC of the film-trained detector on mini-MIAS, with its ablations, on the same folds.

5-fold cross-validation grouped by woman, pooling the out-of-fold films
(``evaluate_froc``), centre-in-circle hit rule with a minimum radius of
10 px (the overlap rule is reported too), 2000 patient-bootstrap
replicates. Each configuration's tables go to ``OUTPUT/<name>.json`` and
its candidates to ``OUTPUT/<name>_candidates.csv``; a configuration whose
JSON exists is skipped, so an interrupted run resumes. Film features are
cached under ``--cache`` (shared by every fold and configuration).

Usage::

    python benchmarks/froc_detector.py --data ../shared/data/mias --output /tmp/froc_detector
    python benchmarks/froc_detector.py --configs default no_hard_negatives
    python benchmarks/froc_detector.py --train-data ../other/mias --data ../shared/data/mias
"""

import argparse
import json
import time
from pathlib import Path

from skbreastcad.detection import FilmLesionDetector, evaluate_froc, mias_detection_data

CONFIGS = {
    "default": {},
    "no_segmentation": {"segmentation": False},
    "no_hard_negatives": {"hard_negative_rounds": 0},
    "one_scale": {"scales": (8,)},
    "no_context": {"context": False},
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="../shared/data/mias", help="mini-MIAS folder tested")
    parser.add_argument("--train-data", help="mini-MIAS folder to train on (no cross-validation)")
    parser.add_argument("--output", default="/tmp/froc_detector")
    parser.add_argument("--cache", default=None, help="folder caching the films' features")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--n-bootstraps", type=int, default=2000)
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    films, lesions = mias_detection_data(args.data)
    train = mias_detection_data(args.train_data) if args.train_data else (None, None)
    for name in args.configs:
        target = out / f"{name}.json"
        if target.exists():
            print(f"{name}: done already ({target})", flush=True)
            continue
        detector = FilmLesionDetector(memory=args.cache, **CONFIGS[name])
        start = time.perf_counter()
        result = evaluate_froc(
            films,
            lesions,
            detector,
            n_splits=args.n_splits,
            train_films=train[0],
            train_lesions=train[1],
            n_bootstraps=args.n_bootstraps,
            verbose=1,
        )
        seconds = time.perf_counter() - start
        result.candidates.to_csv(out / f"{name}_candidates.csv", index=False)
        summary = {
            "config": CONFIGS[name],
            "seconds": seconds,
            "fit_seconds": result.fit_seconds,
            "predict_seconds_per_film": result.predict_seconds_per_film,
            "n_films": len(result.films),
            "inside": result.table.reset_index().to_dict(orient="records"),
            "overlap": result.table_overlap.reset_index().to_dict(orient="records"),
        }
        target.write_text(json.dumps(summary, indent=1, default=float))
        cols = ["n_lesions", "ceiling", "sensitivity@0.5", "sensitivity@1", "sensitivity@2", "mean"]
        print(f"{name} ({seconds:.0f} s)\n{result.table[cols].round(3)}", flush=True)


if __name__ == "__main__":
    main()
