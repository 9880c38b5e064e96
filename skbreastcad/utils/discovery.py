"""Find every estimator that skbreastcad defines, as ``sklearn.utils.all_estimators`` does."""

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

__all__ = ["all_estimators"]


def all_estimators():
    """Return ``(name, class)`` for every public estimator class in skbreastcad.

    Estimators are public :class:`~sklearn.base.BaseEstimator` subclasses with
    a ``fit`` method; parameter holders such as
    :class:`~skbreastcad.augmentation.ImageAugmenter`, which use
    ``BaseEstimator`` only for ``get_params``/``set_params``/``clone``, are not.

    Walks the package's public modules (estimators defined in private modules
    are found through the public package that re-exports them), so a new
    estimator is picked up by the common tests without being registered.

    Returns
    -------
    estimators : list of (str, type)
        Sorted by name.

    Examples
    --------
    >>> from skbreastcad.utils import all_estimators
    >>> "GLCMFeatures" in dict(all_estimators())
    True
    """
    import skbreastcad

    found = {}
    for module_info in pkgutil.walk_packages(skbreastcad.__path__, "skbreastcad."):
        parts = module_info.name.split(".")
        # Public modules only: estimators live in private modules but are
        # re-exported by their public package, while base classes are not.
        if any(p.startswith("_") for p in parts[1:]):
            continue
        module = importlib.import_module(module_info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseEstimator)
                and hasattr(cls, "fit")
                and cls.__module__.startswith("skbreastcad")
                and not name.startswith("_")
                and not inspect.isabstract(cls)
            ):
                found[name] = cls
    return sorted(found.items())
