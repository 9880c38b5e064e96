"""Where a report's numbers came from: package versions and a fingerprint of the data."""

import platform

# one hashing scheme for the whole package: resumable fits fingerprint their data with it too
from ..utils._hashing import data_fingerprint

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
