"""Deprecated: the command line moved to a package of one module per sub-command.

Run it as ``skbreastcad`` or ``python -m skbreastcad``. The names this module
held (``main``, ``build_parser``, ``load_data``, ``run_experiment``, ...) still
resolve, with a FutureWarning, until 0.2.
"""

import importlib
import warnings

__all__ = []

_MOVED = {
    "main": "skbreastcad._cli",
    "build_parser": "skbreastcad._cli",
    "UsageError": "skbreastcad._cli._shared",
    "load_data": "skbreastcad._cli.run",
    "run_experiment": "skbreastcad._cli.run",
    "EXPERIMENTS": "skbreastcad._cli.run",
    "DEFAULT_LAYERS": "skbreastcad._cli.run",
    "DEMO_SETTINGS": "skbreastcad._cli.demo",
}


def __getattr__(name):
    if name == "DEFAULT_FEATURES":
        # never read by the command line itself; kept so that old imports resolve
        value = ("gabor", "glcm", "haar", "gabor+glcm+haar")
    elif name in _MOVED:
        value = getattr(importlib.import_module(_MOVED[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"skbreastcad.cli.{name} is deprecated since 0.1 and will be removed in 0.2: the "
        "command line is run as `skbreastcad` or `python -m skbreastcad`.",
        FutureWarning,
        stacklevel=2,
    )
    return value
