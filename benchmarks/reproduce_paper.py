"""Reproduce the study's claims on real mammograms: a thin wrapper of ``skbreastcad reproduce``.

Runs the study's whole protocol on the real mini-MIAS subset (patient-grouped folds)
with the real contrast-enhanced mammograms of CDD-CESM as the second data set (two-stage
transfer CESM -> MIAS and MIAS -> CESM), and writes ``REPRODUCTION.md``: every claim
with both ROC AUCs, their difference with its patient-bootstrap 95% interval, the paired
tests and a verdict. The run is resumable: run the same command again to continue it.
What it runs, and what runs instead where weights are missing, is in docs/study.md.

Usage::

    python benchmarks/reproduce_paper.py --output ../reproduction          # smoke test (--quick)
    python benchmarks/reproduce_paper.py --full --output ../reproduction   # the study's test (hours)

which is::

    skbreastcad reproduce --data mias:DATA/mias --source cesm:DATA/cesm --output DIR [--full]

Reports of real data are written outside the repository (``--output``).
"""

import argparse
import os
import sys
from pathlib import Path

from skbreastcad._cli import main as skbreastcad

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("SKBREASTCAD_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(HERE.parent.parent / "reproduction"))
    parser.add_argument("--data", default=str(DATA), help="the folder holding mias/ and cesm/")
    parser.add_argument("--full", action="store_true", help="the study's test (hours on CPU)")
    args, rest = parser.parse_known_args(argv)
    data = Path(args.data)
    command = ["reproduce", "--data", f"mias:{data / 'mias'}", "--source", f"cesm:{data / 'cesm'}"]
    command += ["--output", args.output, "--full" if args.full else "--quick", *rest]
    return skbreastcad(command)


if __name__ == "__main__":
    sys.exit(main())
