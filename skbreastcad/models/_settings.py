"""What a training stage follows, read from the estimator once by ``fit``.

The training helpers (:func:`~skbreastcad.models._net.train_stage`,
:func:`~skbreastcad.models._stage1.stage1_settings`, the planning in
:mod:`~skbreastcad.models._planning`) take a :class:`StageSettings`, never the
estimator: what a stage depends on is then written down in one place, and
nothing the helpers do can change the estimator.
"""

import pickle
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

from ..nn._device import use_amp, use_channels_last
from ..utils._hashing import data_fingerprint, settings_fingerprint
from ..utils._sklearn_compat import Interval, validate_parameter_constraints
from ._run_dir import RUN_VERSION
from ._stage1 import callbacks_key, settings_of, weights_key

__all__ = [
    "DEPRECATED_SOURCE_PARAMS",
    "SOURCE_PARAM_DEFAULTS",
    "StageSettings",
    "fit_fingerprint",
    "resolve_source_params",
    "stage_settings",
]

# Stage 1's own values of the stage-duplicated parameters (the old source_*
# parameters' defaults, which are stage 2's defaults too).
SOURCE_PARAM_DEFAULTS = {"lr": 3e-4, "max_epochs": 8, "freeze_depth": 0}

_SOURCE_PARAM_CONSTRAINTS = {
    "lr": [Interval(Real, 0, None, closed="neither")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "freeze_depth": [Integral],
}

# deprecated constructor parameter -> its source_params key
DEPRECATED_SOURCE_PARAMS = {
    "source_lr": "lr",
    "source_max_epochs": "max_epochs",
    "source_freeze_depth": "freeze_depth",
}


@dataclass(frozen=True)
class StageSettings:
    """The settings of one training stage, as plain values.

    Attributes
    ----------
    stage : {1, 2}
    backbone : str
        Resolved backbone name.
    weights : str, path-like or None
        The pretrained weights the stage starts from (None: a random
        initialisation, or stage 1's weights for stage 2 of two-stage transfer).
    lr, max_epochs, freeze_depth
        This stage's values (``source_params`` for stage 1).
    batch_size, optimizer, weight_decay, lr_schedule, early_stopping, validation_fraction, scoring, balance, value_range, verbose
        The estimator's parameters of those names.
    augment : str, callable or None
        The ``augment`` setting as given (part of the stage-1 cache key).
    callbacks : tuple
        The user's callbacks.
    input_size : tuple of (int, int) or None
        The resolved input size (``input_size_``).
    amp, channels_last : bool
        Resolved for the training device.
    seeded : bool
        Whether ``random_state`` fixes the seeds (an int): without it, any
        earlier stage-1 result is as good as a new one.
    """

    stage: int
    backbone: str
    weights: object
    lr: float
    max_epochs: int
    freeze_depth: int
    batch_size: int
    optimizer: str
    weight_decay: float
    lr_schedule: str
    early_stopping: object
    validation_fraction: object
    scoring: str
    balance: object
    augment: object
    callbacks: tuple
    value_range: object
    input_size: object
    amp: bool
    channels_last: bool
    verbose: int
    seeded: bool


def stage_settings(params, stage, backbone, input_size, device, source_params=None):
    """The settings one stage of a fit trains with.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params(deep=False)``.
    stage : {1, 2}
    backbone : str
        The resolved backbone name.
    input_size : tuple of (int, int) or None
        The resolved input size.
    device : torch.device
        The training device (``amp`` and ``channels_last`` are resolved for it).
    source_params : dict or None, default=None
        Stage 1's ``lr``, ``max_epochs`` and ``freeze_depth`` (from
        :func:`resolve_source_params`); required for stage 1.

    Returns
    -------
    settings : StageSettings
    """
    if stage == 1:
        weights, own = params["weights"], source_params
    else:
        # stage 2 of two-stage transfer starts from stage 1's weights
        weights = params["weights"] if params["transfer"] == "imagenet" else None
        own = {key: params[key] for key in SOURCE_PARAM_DEFAULTS}
    shared = (
        "batch_size",
        "optimizer",
        "weight_decay",
        "lr_schedule",
        "early_stopping",
        "validation_fraction",
        "scoring",
        "balance",
        "augment",
        "value_range",
        "verbose",
    )
    return StageSettings(
        stage=stage,
        backbone=backbone,
        weights=weights,
        **own,
        **{key: params[key] for key in shared},
        callbacks=tuple(params["callbacks"] or ()),
        input_size=input_size,
        amp=use_amp(params["amp"], device),
        channels_last=use_channels_last(params["channels_last"], device),
        seeded=params["random_state"] is not None,
    )


def resolve_source_params(source_params, deprecated, *, caller="TwoStageTransferClassifier"):
    """Stage 1's ``lr``, ``max_epochs`` and ``freeze_depth``, checked.

    Parameters
    ----------
    source_params : dict or None
        Keys among ``lr``, ``max_epochs``, ``freeze_depth``; missing keys take
        :data:`SOURCE_PARAM_DEFAULTS`.
    deprecated : dict
        The deprecated ``source_lr``, ``source_max_epochs`` and
        ``source_freeze_depth`` values (``"deprecated"`` when not set); a set
        one warns (FutureWarning) and is used.
    caller : str, default="TwoStageTransferClassifier"
        Named in the messages.

    Returns
    -------
    params : dict
        ``{"lr": float, "max_epochs": int, "freeze_depth": int}``.
    """
    given = dict(source_params or {})
    unknown = sorted(set(given) - set(SOURCE_PARAM_DEFAULTS), key=str)
    if unknown:
        raise ValueError(
            f"source_params of {caller} has unknown keys {unknown}; its keys are "
            f"{sorted(SOURCE_PARAM_DEFAULTS)} (stage 1's values of the parameters of those names)."
        )
    for old, key in DEPRECATED_SOURCE_PARAMS.items():
        value = deprecated.get(old, "deprecated")
        if isinstance(value, str) and value == "deprecated":
            continue
        if key in given:
            raise ValueError(
                f"{caller} got both {old}={value!r} and source_params[{key!r}]="
                f"{given[key]!r}; {old} is deprecated: set only source_params[{key!r}]."
            )
        warnings.warn(
            f"{old} is deprecated since 0.1 and will be removed in 0.2: use "
            f"source_params={{{key!r}: {value!r}}} instead.",
            FutureWarning,
            stacklevel=4,
        )
        given[key] = value
    validate_parameter_constraints(
        {k: _SOURCE_PARAM_CONSTRAINTS[k] for k in given},
        given,
        caller_name=f"{caller} source_params",
    )
    return {**SOURCE_PARAM_DEFAULTS, **given}


def fit_fingerprint(params, source_params, arrays):
    """SHA-256 of everything a fit's result depends on, to find its folder again for ``resume``.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params(deep=False)``. Those that do not change
        the result (``checkpoint_dir``, ``resume``, ``memory``, ``verbose``)
        are left out, and ``source_data`` is hashed as data.
    source_params : dict
        Stage 1's resolved values, so that the deprecated ``source_*`` names
        and ``source_params`` find the same fit.
    arrays : sequence of ndarray or None
        The target images, labels and groups, the source images and labels.

    Returns
    -------
    fingerprint : str or None
        None when the settings cannot be hashed (a lambda in ``augment`` or
        ``callbacks``); with ``resume=True`` a warning says so.
    """
    params = dict(params)
    resume = params["resume"]
    for key in ("checkpoint_dir", "resume", "memory", "verbose", "source_data"):
        params.pop(key)
    for key in DEPRECATED_SOURCE_PARAMS:
        params.pop(key)
    params["source_params"] = sorted(source_params.items())
    params["weights"] = weights_key(params["weights"])
    params["augment"] = settings_of(params["augment"])
    params["callbacks"] = callbacks_key(params["callbacks"])
    if not isinstance(params["random_state"], Integral):
        # an interrupted fit's seeds are read back from its folder
        params["random_state"] = None
    try:
        settings = settings_fingerprint((RUN_VERSION, sorted(params.items())))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        if resume:
            warnings.warn(
                f"resume=True cannot find this fit again: its settings cannot be hashed "
                f"({exc}). Use module-level functions in augment and callbacks.",
                UserWarning,
                stacklevel=4,
            )
        return None
    return settings_fingerprint((settings, data_fingerprint(*arrays)))
