"""What a reproduction reads (its data sets) and what it returns (its folder and claims)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class StudyData:
    """One data set of a reproduction: ROI images, labels, patients and a short name.

    Parameters
    ----------
    X : ndarray of shape (n_samples, height, width)
        ROI images.
    y : ndarray of shape (n_samples,)
        Binary labels, 1 = tumour (or malignant).
    groups : ndarray of shape (n_samples,) or None, default=None
        Patient ids: folds never split a patient, and the intervals resample
        patients.
    name : str, default="target"
        Names its folders and units (``transfer_<name>``); letters, digits,
        ``-`` and ``_`` only.

    Examples
    --------
    >>> import numpy as np
    >>> data = StudyData(np.zeros((4, 8, 8)), np.array([0, 1, 0, 1]), name="phantoms")
    >>> data.name, data.groups is None
    ('phantoms', True)
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray = None
    name: str = "target"

    def __post_init__(self):
        from ._common import check_experiment_data

        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ValueError(
                f"A data set's name may hold letters, digits, '-' and '_' only; got {self.name!r}."
            )
        self.X, self.y, self.groups = check_experiment_data(self.X, self.y, self.groups, cv=2)

    def describe(self):
        """Describe the data set in one line.

        Returns
        -------
        text : str
            The name, the images, the positives and the patients.
        """
        text = f"{self.name}: {len(self.y)} images ({int(self.y.sum())} positive)"
        if self.groups is not None:
            text += f" of {len(np.unique(self.groups))} patients"
        return text

    def fingerprint(self):
        """A hash of the images, labels and patients: a resumed run must read the same data.

        Returns
        -------
        fingerprint : str
            As :func:`skbreastcad.evaluation.data_fingerprint` computes it.
        """
        from ..evaluation import data_fingerprint

        return data_fingerprint(self.X, self.y, self.groups)


class StudyReproduction:
    """What :func:`reproduce_study` produced: the claims, the phase reports, the wall times.

    Parameters
    ----------
    output : pathlib.Path
        The reproduction folder.
    claims : pandas.DataFrame
        One row per claim (see :func:`reproduce_study`).
    reports : dict of str to ExperimentReport
        The report of every finished phase.
    timings : dict
        Per phase: units, finished units and their summed seconds.
    pending : list of str
        The units not computed yet (empty when the run is complete).

    Attributes
    ----------
    complete : bool
        Whether every unit is computed and every phase reported.

    Examples
    --------
    >>> import pandas as pd
    >>> done = StudyReproduction(Path("out"), pd.DataFrame(), {}, {}, [])
    >>> done.complete
    True
    """

    def __init__(self, output, claims, reports, timings, pending):
        self.output = Path(output)
        self.claims = claims
        self.reports = reports
        self.timings = timings
        self.pending = list(pending)

    @property
    def complete(self):
        """Whether every unit is computed and every phase reported."""
        return not self.pending

    def __repr__(self):
        state = "complete" if self.complete else f"{len(self.pending)} units pending"
        return f"StudyReproduction({str(self.output)!r}, {len(self.claims)} claims, {state})"
