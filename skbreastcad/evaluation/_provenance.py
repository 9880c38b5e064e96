"""Where a report's numbers came from: package versions and a fingerprint of the data."""

import platform

from ..utils._hashing import hash_data

__all__ = ["data_fingerprint"]


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in (
        "skbreastcad",
        "numpy",
        "scipy",
        "scikit-learn",
        "imbalanced-learn",
        "pandas",
        "matplotlib",
        "joblib",
        "torch",
        "skorch",
    ):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def data_fingerprint(*arrays):
    """SHA-256 of arrays' shapes, dtypes and bytes: equal fingerprints, equal data.

    Parameters
    ----------
    *arrays : array-like or None
        The data to fingerprint, in order; None is hashed as a marker.

    Returns
    -------
    fingerprint : str
        Hex digest.

    Examples
    --------
    >>> import numpy as np
    >>> data_fingerprint([1, 2, 3]) == data_fingerprint(np.array([1, 2, 3]))
    True
    """
    # one hashing scheme for the whole package; not strict, so that evaluate() takes any X
    # its estimator accepts, as it always did
    return hash_data(*arrays, strict=False)
