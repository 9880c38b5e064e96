"""Optional dependencies: an import of a missing extra says which extra installs it.

The base install (``pip install skbreastcad``) has the texture features,
sampling, evaluation and the data loaders. The deep-learning stack (torch,
torchvision, skorch) is the ``deep`` extra and pydicom the ``dicom`` extra.
Every lazy import of these goes through :func:`optional_import`, so that a
user without the extra reads what to install instead of ``No module named
'torch'``.
"""

from contextlib import contextmanager

# top-level module -> (what to call it, the extra that installs it)
EXTRAS = {
    "torch": ("PyTorch", "deep"),
    "torchvision": ("torchvision", "deep"),
    "skorch": ("skorch", "deep"),
    "pydicom": ("pydicom", "dicom"),
    "accelerate": ("Hugging Face Accelerate", "distributed"),
}


@contextmanager
def optional_import(caller):
    """Turn a missing optional dependency imported in the block into a clear error.

    Wrap the import lines of an optional dependency (or of a private module
    that imports one at its top)::

        with optional_import("CNNLayerFeatures"):
            import torch

    Parameters
    ----------
    caller : str
        What needs the dependency, as the user knows it (a class, a function,
        a backbone); it starts the error message.

    Yields
    ------
    None

    Raises
    ------
    ImportError
        When a package of :data:`EXTRAS` is not installed: the message names
        the package and the extra, e.g. ``CNNLayerFeatures needs PyTorch: pip
        install 'skbreastcad[deep]'``; the original error is its cause. Other
        import errors (a submodule missing from an installed package, another
        package) pass unchanged: the install command would not fix them.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name not in EXTRAS:
            raise
        package, extra = EXTRAS[exc.name]
        raise ImportError(f"{caller} needs {package}: pip install 'skbreastcad[{extra}]'") from exc
