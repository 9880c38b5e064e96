"""Which types a model folder may hold without the user trusting them explicitly."""

import functools

__all__ = ["UntrustedTypesError", "default_trusted_types", "type_name"]


class UntrustedTypesError(ValueError):
    """A model folder holds types that neither skops nor skbreastcad trusts by default.

    Parameters
    ----------
    message : str
        What was refused and how to trust it.
    types : list of str
        The refused types, as ``module.QualifiedName``.

    Attributes
    ----------
    types : list of str
        The refused types.

    Examples
    --------
    >>> from skbreastcad.persistence import UntrustedTypesError
    >>> err = UntrustedTypesError("refused", ["mypackage.MyClass"])
    >>> err.types
    ['mypackage.MyClass']
    """

    def __init__(self, message, types):
        super().__init__(message)
        self.types = list(types)


def type_name(cls):
    """``module.QualifiedName`` of a class, as ``skops.io`` reports it.

    Parameters
    ----------
    cls : type or str
        A class, or a name already.

    Returns
    -------
    name : str
    """
    if isinstance(cls, str):
        return cls
    if not isinstance(cls, type):
        raise TypeError(
            f"trusted must list types or 'module.Name' strings; got {type(cls).__name__} {cls!r}."
        )
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.lru_cache(maxsize=1)
def _default_trusted():
    # A fixed list of classes, not "anything under skbreastcad": a private
    # helper class that happens to live in the package is not trusted by accident.
    from ..augmentation import AugmentingSampler, ImageAugmenter
    from ..ensemble import AveragedClassifier, SeedEnsembleClassifier, TTAClassifier
    from ..features import CNNLayerFeatures, GaborFeatures, GLCMFeatures, HaarFeatures
    from ..models import SourceData, TwoStageTransferClassifier
    from ..nn._state import TorchModuleRef
    from ..sampling import RandomImageOverSampler

    ours = [
        AugmentingSampler,
        AveragedClassifier,
        CNNLayerFeatures,
        GaborFeatures,
        GLCMFeatures,
        HaarFeatures,
        ImageAugmenter,
        RandomImageOverSampler,
        SeedEnsembleClassifier,
        SourceData,
        TTAClassifier,
        TorchModuleRef,
        TwoStageTransferClassifier,
    ]
    # Types our estimators compose that skops does not trust by default: the
    # imbalanced-learn pipeline and samplers of experiments.make_feature_pipeline,
    # and skorch's History (a list of dicts) of the fine-tuned classifiers.
    # Named, not imported: a folder can be checked without these packages.
    third_party = [
        # the trees of HistGradientBoostingClassifier (the film detector's window model and
        # second stage): numpy arrays of nodes, constructed without running code
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "imblearn.pipeline.Pipeline",
        "imblearn.over_sampling._random_over_sampler.RandomOverSampler",
        "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
        "skorch.history.History",
    ]
    # detection sits beside persistence, not below it: its classes are named, not imported
    # (tests/test_persistence.py checks that the names are those of the classes)
    detection = [
        "skbreastcad.detection._blob_features.BlobWindowFeatures",
        "skbreastcad.detection._detector.FilmLesionDetector",
    ]
    return frozenset([type_name(cls) for cls in ours] + third_party + detection)


def default_trusted_types():
    """The types skbreastcad trusts in a model folder, besides those skops trusts.

    Returns
    -------
    types : list of str
        Sorted ``module.QualifiedName`` strings.

    Examples
    --------
    >>> from skbreastcad.persistence import default_trusted_types
    >>> "imblearn.pipeline.Pipeline" in default_trusted_types()
    True
    """
    return sorted(_default_trusted())


def check_trusted(untrusted, trusted, where):
    """Raise :class:`UntrustedTypesError` for types neither trusted by default nor by the user."""
    extra = {type_name(t) for t in (trusted or ())}
    refused = sorted(set(untrusted) - _default_trusted() - extra)
    if refused:
        listing = ", ".join(refused)
        raise UntrustedTypesError(
            f"{where} holds {len(refused)} type(s) that skbreastcad does not trust: {listing}. "
            "Loading would construct them, and their code would run. If you trust the "
            f"folder's source and these types, pass load_model(..., trusted={refused!r}).",
            refused,
        )
