"""The study's settings: quick and full modes, the layers probed, the folder's format."""

import json

STUDY_MODES = ("quick", "full")

#: the marker kind of a reproduction folder (see skbreastcad.utils.write_folder)
FOLDER_KIND = "reproduction"
#: format of the unit files and of study.json; a folder of another version is never resumed
FORMAT_VERSION = 1

QUICK_BANNER = (
    "**Smoke test (quick mode): these verdicts are NOT the study's test.** The quick mode "
    "runs tiny settings to check the pipeline end to end; only `--full` tests the claims."
)

# Layers probed when the settings name none (VGG16: the study's layers 8 to 17)
PROBE_LAYERS = {
    "tiny_cnn": ("relu1", "relu2", "pool"),
    "efficientnet_lite0": (*(f"blocks.{i}" for i in range(7)), "conv_head"),
    "efficientnet_lite1": (*(f"blocks.{i}" for i in range(7)), "conv_head"),
    "efficientnet_lite2": (*(f"blocks.{i}" for i in range(7)), "conv_head"),
    "resnet50": ("layer1", "layer2", "layer3", "layer4"),
    "inception_v3": (
        "Mixed_5b",
        "Mixed_5c",
        "Mixed_5d",
        "Mixed_6a",
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "Mixed_7a",
        "Mixed_7b",
        "Mixed_7c",
    ),
}

_SETTINGS = {
    "quick": {
        "cv": 3,
        "n_boot": 500,
        "seed": 0,
        "backbone": "efficientnet_lite0",
        "layers": None,
        "hand_crafted": ("gabor", "glcm", "haar"),
        "cnn_input_size": 64,
        "study_backbones": ("vgg16", "resnet50", "inception_v3"),
        "offline_backbones": ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"),
        "table3_modes": ("features",),
        # the study's freezing ("all layers before L2"): only the last two weight layers
        # train, at 32 px for 3 epochs per stage, so that the transfers fit in minutes
        "finetune": {
            "input_size": 32,
            "max_epochs": 3,
            "freeze_depth": -2,
            "source_params": {"max_epochs": 3, "freeze_depth": -2},
        },
        "ablation": "glcm",
    },
    "full": {
        "cv": 5,
        "n_boot": 2000,
        "seed": 0,
        "backbone": "efficientnet_lite0",
        "layers": None,
        "hand_crafted": ("gabor", "glcm", "haar"),
        # None: each backbone's native (pretraining) input size
        "cnn_input_size": None,
        "study_backbones": ("vgg16", "resnet50", "inception_v3"),
        "offline_backbones": ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"),
        "table3_modes": ("features", "fine_tuned"),
        # the classifier's own defaults (chosen on real mammograms), whole network trained
        "finetune": {"input_size": 128},
        "ablation": "glcm",
    },
}


def study_settings(mode="quick", **changes):
    """The settings of a reproduction: a mode's defaults, with some of them changed.

    Parameters
    ----------
    mode : {"quick", "full"}, default="quick"
        ``"full"``: patient-grouped 5-fold CV, 2000 bootstrap resamples, CNN
        features at the backbone's native input size, fine-tuning with
        :class:`~skbreastcad.models.TwoStageTransferClassifier`'s defaults
        at 128 px with the whole network trained, and Table 3 both as
        frozen features and fine-tuned. ``"quick"``: a smoke test (3 folds,
        500 resamples, 64-px CNN features, the last two weight layers
        fine-tuned at 32 px for 3 epochs per stage, Table 3 as features only).
    **changes
        Settings to change: ``cv``, ``n_boot``, ``seed``, ``backbone`` (of
        the CNN features, the layer probe and the transfers), ``layers``
        (probed; None: :data:`PROBE_LAYERS` or VGG16's layers 8 to 17),
        ``hand_crafted``, ``cnn_input_size``, ``study_backbones``,
        ``offline_backbones`` (Table 3's stand-ins when the study's
        backbones have no offline weights), ``table3_modes``, ``finetune``
        (:class:`~skbreastcad.models.TwoStageTransferClassifier`
        parameters, replacing the mode's whole dict) and ``ablation`` (the
        feature set of the up-sampling/augmentation ablation, or None).

    Returns
    -------
    settings : dict
        Every setting, JSON-ready; ``settings["mode"]`` is the mode.

    Raises
    ------
    ValueError
        For an unknown mode or setting name.

    Examples
    --------
    >>> study_settings("full")["finetune"]
    {'input_size': 128}
    >>> study_settings("quick", cv=2)["cv"]
    2
    """
    if mode not in STUDY_MODES:
        raise ValueError(f"mode must be one of {STUDY_MODES}; got {mode!r}.")
    settings = json.loads(json.dumps(_SETTINGS[mode]))  # a deep copy, tuples as lists
    unknown = sorted(set(changes) - set(settings))
    if unknown:
        raise ValueError(f"Unknown settings {unknown}; the settings are {sorted(settings)}.")
    settings.update(json.loads(json.dumps(changes)))
    settings["mode"] = mode
    if not isinstance(settings["cv"], int) or settings["cv"] < 2:
        raise ValueError(f"cv must be an integer of at least 2; got {settings['cv']!r}.")
    if not isinstance(settings["n_boot"], int) or settings["n_boot"] < 1:
        raise ValueError(f"n_boot must be a positive integer; got {settings['n_boot']!r}.")
    return settings
