"""The study's whole protocol as one resumable run: :func:`reproduce_study`.

The run is cut into *units*: the features of one feature set or backbone
computed once over all images (frozen networks and the hand-crafted
transformers learn nothing from the data, so this leaks nothing), one
classifier fitted on one training fold, one network fine-tuned on one
training fold. Each unit writes its result into the output folder atomically
(a temporary file renamed into place) the moment it ends, so a killed run
loses at most the unit it was in, and a rerun on the same folder computes only
the units that are missing. A fine-tuning unit also checkpoints every epoch
(``TwoStageTransferClassifier(checkpoint_dir=..., resume=True)``) and caches
its stage 1 (``memory``), so even a long fine-tune continues where it was killed.

Every report is assembled from the unit files read back, never from what a
process happens to hold in memory: an interrupted and resumed run and an
uninterrupted one give the same report.
"""

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils._docstrings import substitute_docs
from ._common import EXPERIMENT_PARAMETERS, ExperimentReport

__all__ = [
    "STUDY_MODES",
    "StudyData",
    "StudyReproduction",
    "check_reproduction",
    "reproduce_study",
    "study_settings",
]

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


# -- units ----------------------------------------------------------------------------------
@dataclass
class _Unit:
    name: str  # "fit/mias/features/cnn/fold0": also its file path under units/
    kind: str  # what the time left is estimated from (units of a kind cost about the same)
    run: object  # () -> dict (fits) or dict of arrays (extractions)
    array: bool = False  # an .npz of arrays (an extraction) rather than a .json result


def _atomic_write(path, write):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_text(path, text):
    _atomic_write(Path(path), lambda tmp: tmp.write_text(text))


class _Store:
    """The unit files of one reproduction folder."""

    def __init__(self, folder):
        self.folder = Path(folder) / "units"

    def path(self, unit):
        return self.folder / (unit.name + (".npz" if unit.array else ".json"))

    def done(self, unit):
        return self.path(unit).is_file()

    def save(self, unit, result, seconds, cpu_seconds=None):
        path = self.path(unit)
        timing = {"seconds": seconds}
        if cpu_seconds is not None:
            timing["cpu_seconds"] = cpu_seconds
        if unit.array:

            def write(tmp):
                with open(tmp, "wb") as handle:
                    np.savez(handle, **{k: np.float64(v) for k, v in timing.items()}, **result)

        else:

            def write(tmp):
                tmp.write_text(json.dumps({"unit": unit.name, **timing, **result}))

        _atomic_write(path, write)

    def load(self, unit):
        path = self.path(unit)
        if unit.array:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        return json.loads(path.read_text())

    def seconds(self, unit, key="seconds"):
        """The unit's wall (or ``"cpu_seconds"``) time; NaN when it was not recorded."""
        if not unit.array:
            return float(self.load(unit).get(key, math.nan))
        with np.load(self.path(unit)) as data:
            return float(data[key]) if key in data.files else math.nan


def _classifier_result(model, X_test, test, pos_label):
    from ..evaluation import positive_scores

    scores = positive_scores(model, X_test, pos_label)
    y_pred = (np.asarray(model.predict(X_test)) == pos_label).astype(int)
    return {
        "test": [int(i) for i in test],
        "score": [float(s) for s in scores],
        "y_pred": [int(p) for p in y_pred],
    }


def _feature_fit(features_of, y, train, test, seed):
    """A unit: scaling, random over-sampling and a logistic regression on precomputed features."""
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    def run():
        F = features_of()
        model = Pipeline(
            [
                ("scale", StandardScaler()),
                ("oversample", RandomOverSampler(random_state=seed)),
                ("classifier", LogisticRegression(max_iter=2000)),
            ]
        )
        model.fit(F[train], y[train])
        return _classifier_result(model, F[test], test, 1)

    return run


def _history_rows(history, stage):
    from ..models._history import plain

    rows = []
    for record in plain(list(history or [])):
        valid = record.get("valid_loss")
        rows.append(
            {
                "stage": stage,
                "epoch": int(record.get("epoch", len(rows) + 1)),
                "train_loss": float(record.get("train_loss", math.nan)),
                "valid_loss": float(valid) if valid is not None else None,
            }
        )
    return rows


# -- the plan: phases and their units -------------------------------------------------------
@dataclass
class _Phase:
    name: str
    title: str
    units: list  # unit names
    candidates: dict  # label -> list of fold unit names (one per fold)
    data: StudyData
    folds: list
    notes: list
    curves: bool = False
    layer_curve: bool = False


class _Plan:
    def __init__(self, target, source, settings, folder, device):
        from ..nn import resolve_backbone, weights_status

        self.settings = s = settings
        self.folder = Path(folder)
        self.device = device
        self.units = {}
        self.phases = []
        self.notes = []
        self.target, self.source = target, source
        seed = s["seed"]
        self.folds = {target.name: self._folds(target)}
        if source is not None:
            self.folds[source.name] = self._folds(source)

        backbone = s["backbone"]
        ran, self.weights, note = resolve_backbone(backbone, "imagenet", "random")
        if note:
            self.notes.append(note)
        self.backbone = ran
        self.one_stage = "imagenet" if self.weights is not None else "none"
        if ran != "vgg16":
            vgg = weights_status("vgg16")[0]
            self.notes.append(
                f"CNN features, the layer probe and the transfers use {ran} instead of the "
                "study's base network VGG16"
                + (" (whose ImageNet weights are not offline)." if vgg is False else ".")
            )

        # Table 1: hand-crafted, CNN and fused features, and the fine-tuned CNN
        hand = list(s["hand_crafted"])
        sets = [*hand, "cnn", *(f"cnn+{h}" for h in hand)]
        candidates = {
            name: self._feature_rows(target, "features", name, self._parts(target, name))
            for name in sets
        }
        candidates[f"{ran} fine-tuned"] = self._finetune_rows(target, ran, self.one_stage)
        self._add_phase(
            "features",
            "Feature sets and the fine-tuned CNN (the study's Table 1)",
            target,
            candidates,
        )

        # Table 2: the layer probe
        layers = s["layers"] if s["layers"] is not None else PROBE_LAYERS.get(ran)
        if layers is None and ran == "vgg16":
            from ..nn import VGG16_STUDY_LAYERS

            layers = [VGG16_STUDY_LAYERS[i] for i in range(8, 18)]
        if layers is None:
            raise ValueError(
                f"Name the layers of {ran!r} to probe (settings['layers']); see "
                f"`skbreastcad layers {ran}`."
            )
        self.layers = list(layers)
        extract = self._layer_extract(target, ran, self.weights, self.layers)
        candidates = {}
        from ._layers import _layer_label

        for i, layer in enumerate(self.layers):
            candidates[_layer_label(ran, layer)] = self._feature_rows(
                target, "layers", _layer_label(ran, layer), [(extract, f"layer{i}")]
            )
        self._add_phase(
            "layers",
            f"Layer probe of {ran} (the study's Table 2)",
            target,
            candidates,
            layer_curve=True,
        )

        # Fig. 6 on the target: none, ImageNet, two-stage through the source
        self._add_transfer(target, source)

        # Table 3: the study's backbones where their weights are offline, else the stand-ins
        status = {b: weights_status(b) for b in s["study_backbones"]}
        self.missing = {b: detail for b, (ok, detail) in status.items() if ok is False}
        if self.missing:
            offline = [b for b in s["offline_backbones"] if weights_status(b)[0] is not False]
            self.table3 = offline or [ran]
            self.table3_note = (
                f"Table 3 ran on {', '.join(self.table3)} instead of "
                f"{', '.join(s['study_backbones'])}: the ImageNet weights of "
                f"{', '.join(self.missing)} are not offline (see `skbreastcad backbones`)."
            )
            self.notes.append(self.table3_note)
        else:
            self.table3, self.table3_note = list(s["study_backbones"]), None
        candidates = {}
        for b in self.table3:
            weights = resolve_backbone(b, "imagenet", "random")[1]
            if "features" in s["table3_modes"]:
                parts = [(self._cnn_extract(target, b, weights), None)]
                candidates[f"{b} features"] = self._feature_rows(
                    target, "backbones", f"{b} features", parts
                )
            if "fine_tuned" in s["table3_modes"]:
                transfer = "imagenet" if weights is not None else "none"
                candidates[f"{b} fine-tuned"] = self._finetune_rows(target, b, transfer, weights)
        self._add_phase(
            "backbones", "Backbones (the study's Table 3)", target, candidates, curves=True
        )

        # Fig. 6 the other way round: the source as the target
        if source is not None:
            self._add_transfer(source, target)

        if s["ablation"]:
            self._add_ablation(target, s["ablation"], seed)

    # folds, names
    def _folds(self, data):
        from ._common import check_experiment_data, make_cv

        check_experiment_data(data.X, data.y, data.groups, self.settings["cv"])
        cv = make_cv(self.settings["cv"], data.groups, self.settings["seed"])
        return [(train, test) for train, test in cv.split(data.X, data.y, data.groups)]

    def _add(self, unit):
        self.units.setdefault(unit.name, unit)
        return self.units[unit.name].name

    def _add_phase(self, name, title, data, candidates, *, curves=False, layer_curve=False):
        units = []
        for fold_units in candidates.values():
            for unit in fold_units:
                units += [u for u in self._requires(unit) if u not in units]
        self.phases.append(
            _Phase(
                name=name,
                title=title,
                units=units,
                candidates=candidates,
                data=data,
                folds=self.folds[data.name],
                notes=[],
                curves=curves,
                layer_curve=layer_curve,
            )
        )

    def _requires(self, name):
        """A fit unit and the extractions it reads, extractions first."""
        unit = self.units[name]
        return [*getattr(unit, "needs", ()), name]

    # extractions
    def _store(self):
        return _Store(self.folder)

    def _parts(self, data, name):
        parts = []
        for part in name.split("+"):
            if part == "cnn":
                parts.append((self._cnn_extract(data, self.backbone, self.weights), None))
            else:
                parts.append((self._hand_extract(data, part), None))
        return parts

    def _hand_extract(self, data, name):
        from ._feature_comparison import make_feature_set

        def run():
            return {"features": make_feature_set(name).fit_transform(data.X)}

        return self._add(_Unit(f"extract/{data.name}/{name}", "extract", run, array=True))

    def _cnn_extract(self, data, backbone, weights):
        from ..features import CNNLayerFeatures

        size = self.settings["cnn_input_size"]

        def run():
            features = CNNLayerFeatures(
                backbone,
                weights=weights,
                input_size=size,
                device=self.device,
                random_state=self.settings["seed"],
            )
            return {"features": features.fit_transform(data.X)}

        label = "native" if size is None else f"{size}px"
        return self._add(
            _Unit(f"extract/{data.name}/cnn-{backbone}-{label}", "extract", run, array=True)
        )

    def _layer_extract(self, data, backbone, weights, layers):
        from ..features import layer_features

        size = self.settings["cnn_input_size"]

        def run():
            feats = layer_features(
                data.X,
                backbone,
                layers,
                weights=weights,
                input_size=size,
                device=self.device,
                random_state=self.settings["seed"],
            )
            return {f"layer{i}": feats[layer] for i, layer in enumerate(layers)}

        label = "native" if size is None else f"{size}px"
        return self._add(
            _Unit(f"extract/{data.name}/layers-{backbone}-{label}", "extract", run, array=True)
        )

    # fits
    def _feature_rows(self, data, phase, label, parts):
        store = self._store()
        names = []
        for k, (train, test) in enumerate(self.folds[data.name]):

            def features_of(parts=parts):
                blocks = []
                for extract, key in parts:
                    arrays = store.load(self.units[extract])
                    blocks.append(arrays[key or "features"])
                return np.hstack(blocks)

            unit = _Unit(
                f"fit/{data.name}/{phase}/{label.replace(' ', '_')}/fold{k}",
                "fit",
                _feature_fit(features_of, data.y, train, test, self.settings["seed"]),
            )
            unit.needs = [extract for extract, _ in parts]
            names.append(self._add(unit))
        return names

    def _finetune_rows(self, data, backbone, transfer, weights="same"):
        weights = self.weights if weights == "same" else weights
        source = self.source if data is self.target else self.target
        return [
            self._add(self._finetune_unit(data, source, backbone, transfer, weights, k, fold))
            for k, fold in enumerate(self.folds[data.name])
        ]

    def _finetune_unit(self, data, source, backbone, transfer, weights, k, fold):
        name = f"finetune/{data.name}/{backbone}/{transfer}/fold{k}"
        folder = self.folder
        settings = self.settings
        train, test = fold

        def run():
            from ..models import SourceData, TwoStageTransferClassifier

            params = dict(settings["finetune"])
            checkpoints = folder / "checkpoints" / name.replace("/", "-")
            clf = TwoStageTransferClassifier(
                backbone,
                transfer=transfer,
                weights=weights if weights is not None else None,
                source_data=SourceData(source.X, source.y) if transfer == "two_stage" else None,
                random_state=settings["seed"],
                device=self.device,
                memory=os.fspath(folder / "cache"),
                checkpoint_dir=os.fspath(checkpoints),
                resume=True,
                **params,
            )
            clf.fit(data.X[train], data.y[train])
            result = _classifier_result(clf, data.X[test], test, 1)
            history = _history_rows(getattr(clf, "stage1_history_", None), 1)
            history += _history_rows(clf.history_, 2)
            result["history"] = history
            # the unit's result is what is kept: its checkpoints are no longer needed
            shutil.rmtree(checkpoints, ignore_errors=True)
            return result

        return _Unit(name, f"finetune/{data.name}/{transfer}", run)

    def _add_transfer(self, data, source):
        transfers = ["none", "imagenet"] + (["two_stage"] if source is not None else [])
        candidates, notes = {}, []
        for transfer in transfers:
            label = f"{self.backbone} / {transfer}"
            if transfer == "imagenet" and self.weights is None:
                notes.append(f"{label}: skipped, {self.backbone} has no ImageNet weights.")
                continue
            candidates[label] = self._finetune_rows(data, self.backbone, transfer)
        # the title names the rows that ran, no more
        names = {"none": "none", "imagenet": "ImageNet", "two_stage": "two-stage"}
        ran = [names[label.rsplit(" / ", 1)[1]] for label in candidates]
        if source is not None:
            ran[-1] += f" ({source.name} -> {data.name})"
        self._add_phase(
            f"transfer_{data.name}",
            f"Transfer learning on {data.name}: {', '.join(ran)} (the study's Fig. 6)",
            data,
            candidates,
            curves=True,
        )
        self.phases[-1].notes += notes
        if source is None:
            self.phases[-1].notes.append("No source data set: the two-stage rows were not run.")

    def _add_ablation(self, data, features, seed):
        from ._deep import ablation_candidates

        candidates = {}
        for label, steps in ablation_candidates(features, random_state=seed).items():
            names = []
            for k, (train, test) in enumerate(self.folds[data.name]):

                def run(steps=steps, train=train, test=test):
                    from imblearn.pipeline import Pipeline
                    from sklearn.base import clone

                    from ._common import PIPELINE_STEPS

                    model = Pipeline([(n, clone(steps[n])) for n in PIPELINE_STEPS if n in steps])
                    model.fit(data.X[train], data.y[train])
                    return _classifier_result(model, data.X[test], test, 1)

                unit = _Unit(
                    f"fit/{data.name}/ablation/{label.replace(' ', '_').replace(',', '')}/fold{k}",
                    "fit-images",
                    run,
                )
                names.append(self._add(unit))
            candidates[label] = names
        self._add_phase(
            "ablation",
            "Ablations: up-sampling and augmentation on training folds",
            data,
            candidates,
        )

    def notes_for(self, phase):
        """The run's notes (what ran instead) and the phase's own."""
        return [*self.notes, *phase.notes]

    def owner(self):
        """unit name -> the first phase that needs it (whose wall time it counts in)."""
        owners = {}
        for phase in self.phases:
            for name in phase.units:
                owners.setdefault(name, phase.name)
        return owners

    def ordered_units(self):
        order = []
        seen = set()
        for phase in self.phases:
            for name in phase.units:
                if name not in seen:
                    seen.add(name)
                    order.append(self.units[name])
        return order


# -- the phase reports ----------------------------------------------------------------------
class _LayerProbeReport(ExperimentReport):
    """A layer probe's report with its layer curve: ROC AUC with its CI against depth."""

    def _figures(self, folder):
        figures = super()._figures(folder)
        from ..plotting._base import _finish, _new_figure

        r = self.results[self.results["metric"] == "roc_auc"]
        order = {c: i for i, c in enumerate(self.candidates)}
        r = r.sort_values("candidate", key=lambda s: s.map(order))
        fig = _new_figure((7, 4), 110)
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(r))
        est = r["estimate"].to_numpy(float)
        low, high = r["ci_low"].to_numpy(float), r["ci_high"].to_numpy(float)
        ax.plot(x, est, marker="o")
        ax.fill_between(x, low, high, alpha=0.2)
        ax.set_xticks(x)
        ax.set_xticklabels(r["candidate"], rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("ROC AUC (95% CI)")
        ax.set_xlabel("probed layer, shallow to deep")
        _finish(fig, folder / "layer_curve.png")
        figures["layer_curve.png"] = (
            "The layer curve: ROC AUC of a logistic regression on each layer's pooled "
            "features, shallow to deep, with its patient-bootstrap 95% interval."
        )
        return figures


def _phase_report(phase, store, plan):
    import pandas as pd

    from ..evaluation import evaluate_predictions

    data, s = phase.data, plan.settings
    frames, curves = [], []
    for label, fold_units in phase.candidates.items():
        for k, name in enumerate(fold_units):
            record = store.load(plan.units[name])
            test = np.asarray(record["test"], dtype=int)
            frames.append(
                pd.DataFrame(
                    {
                        "sample": test,
                        "group": data.groups[test] if data.groups is not None else test,
                        "fold": k,
                        "candidate": label,
                        "y_true": data.y[test].astype(int),
                        "score": np.asarray(record["score"], dtype=float),
                        "y_pred": np.asarray(record["y_pred"], dtype=int),
                    }
                )
            )
            for row in record.get("history", []):
                curves.append({"candidate": label, "fit": k, **row})
    predictions = pd.concat(frames, ignore_index=True)
    predictions["candidate"] = pd.Categorical(
        predictions["candidate"], categories=list(phase.candidates)
    )
    owners = plan.owner()
    seconds = sum(store.seconds(plan.units[n]) for n in phase.units if owners[n] == phase.name)
    report = evaluate_predictions(
        predictions,
        n_boot=s["n_boot"],
        random_state=s["seed"],
        config={
            "experiment": f"reproduce_study:{phase.name}",
            "settings": s,
            "data": data.describe(),
            "data_fingerprint": data.fingerprint(),
        },
        timings={"units_s": seconds},
        title=phase.title,
    )
    frame = None
    if phase.curves and curves:
        frame = pd.DataFrame(
            curves, columns=["candidate", "stage", "fit", "epoch", "train_loss", "valid_loss"]
        )
        frame["valid_loss"] = frame["valid_loss"].astype(float)
    cls = _LayerProbeReport if phase.layer_curve else ExperimentReport
    return cls.from_report(report, notes=[*plan.notes_for(phase)], curves=frame)


# -- the claims -----------------------------------------------------------------------------
def _claim(text, reports, phase, better, worse, settings, note=""):
    from ..evaluation import delong_test, paired_bootstrap_test

    row = {
        "claim": text,
        "phase": phase,
        "better": better,
        "worse": worse,
        "auc_better": None,
        "auc_worse": None,
        "difference": None,
        "ci_low": None,
        "ci_high": None,
        "p_bootstrap": None,
        "p_delong": None,
        "verdict": "pending",
        "note": note,
    }
    report = reports.get(phase)
    if report is None:
        return row
    p = report.predictions
    candidates = set(p["candidate"].astype(str))
    if better not in candidates or worse not in candidates:
        row["verdict"] = "not run"
        return row

    def aligned(candidate):
        rows = p[p["candidate"].astype(str) == candidate].sort_values("sample")
        return rows

    a, b = aligned(better), aligned(worse)
    y = a["y_true"].to_numpy(int)
    groups = a["group"].to_numpy()
    scores = np.vstack([a["score"].to_numpy(float), b["score"].to_numpy(float)])
    boot = paired_bootstrap_test(
        y, scores=scores, groups=groups, n_boot=settings["n_boot"], random_state=settings["seed"]
    )
    delong = delong_test(y, scores[0], scores[1])
    r = report.results[report.results["metric"] == "roc_auc"].set_index("candidate")

    def auc(candidate):
        e, lo, hi = r.loc[candidate, ["estimate", "ci_low", "ci_high"]]
        return [round(float(e), 4), round(float(lo), 4), round(float(hi), 4)]

    diff, low, high = boot["difference"], boot["ci_low"], boot["ci_high"]
    if diff == 0:
        verdict = "no difference"
    elif diff > 0 and low > 0:
        verdict = "holds"
    elif diff > 0:
        verdict = "same direction, not significant"
    elif high < 0:
        verdict = "reversed (significant)"
    else:
        verdict = "reversed, not significant"
    degenerate = [c for c, rows in ((better, a), (worse, b)) if rows["y_pred"].nunique() == 1]
    if degenerate:
        flag = "degenerate: " + ", ".join(degenerate) + " predict(s) one class for every sample"
        row["note"] = f"{note}; {flag}" if note else flag
    row.update(
        auc_better=auc(better),
        auc_worse=auc(worse),
        difference=round(float(diff), 4),
        ci_low=round(float(low), 4),
        ci_high=round(float(high), 4),
        p_bootstrap=float(f"{boot['pvalue']:.3g}"),
        p_delong=float(f"{delong.pvalue:.3g}"),
        verdict=verdict,
    )
    return row


def _claims(plan, reports):
    from scipy.stats import spearmanr

    s, t = plan.settings, plan.target
    rows = []
    features = reports.get("features")
    hand = list(s["hand_crafted"])
    # named once Table 1 is computed
    best_hand = "best of " + ", ".join(hand)
    if features is not None:
        r = features.results[features.results["metric"] == "roc_auc"].set_index("candidate")
        best_hand = max(hand, key=lambda h: r.loc[h, "estimate"])
    chosen = "the best hand-crafted set by ROC AUC"
    rows.append(
        _claim(
            "CNN features beat hand-crafted ones",
            reports,
            "features",
            "cnn",
            best_hand,
            s,
            f"{plan.backbone} features; {chosen}",
        )
    )
    rows.append(
        _claim(
            "a fine-tuned CNN beats hand-crafted features",
            reports,
            "features",
            f"{plan.backbone} fine-tuned",
            best_hand,
            s,
            chosen,
        )
    )
    for h in hand:
        rows.append(
            _claim(
                f"fusion helps the hand-crafted features ({h})",
                reports,
                "features",
                f"cnn+{h}",
                h,
                s,
            )
        )
    from ._layers import _layer_label

    first, last = (
        _layer_label(plan.backbone, layer) for layer in (plan.layers[0], plan.layers[-1])
    )
    note = ""
    layers = reports.get("layers")
    if layers is not None:
        r = layers.results[layers.results["metric"] == "roc_auc"]
        aucs = [float(r[r["candidate"] == c]["estimate"].iloc[0]) for c in layers.candidates]
        rho = spearmanr(np.arange(len(aucs)), aucs)
        note = (
            f"Spearman rho(depth, AUC) over {len(aucs)} layers = {rho.statistic:.2f} "
            f"(p = {rho.pvalue:.2g})"
        )
    text = "deeper layers are better" + ("" if plan.backbone == "vgg16" else f" ({plan.backbone})")
    rows.append(_claim(text, reports, "layers", last, first, s, note))
    study = list(s["study_backbones"])
    if plan.missing:
        rows.append(
            {
                **_claim(" > ".join(study), {}, "backbones", study[0], study[-1], s),
                "verdict": "not tested offline",
                "note": plan.table3_note,
            }
        )
    else:
        mode = "fine-tuned" if "fine_tuned" in s["table3_modes"] else "features"
        for better, worse in zip(study, study[1:]):
            rows.append(
                _claim(
                    f"{better} > {worse}",
                    reports,
                    "backbones",
                    f"{better} {mode}",
                    f"{worse} {mode}",
                    s,
                )
            )
    directions = [(t, plan.source)] + ([(plan.source, t)] if plan.source is not None else [])
    b = plan.backbone
    for data, source in directions:
        phase = f"transfer_{data.name}"
        if plan.weights is None:
            rows.append(
                {
                    **_claim(f"transfer beats none ({data.name})", {}, phase, "", "", s),
                    "verdict": "not tested",
                    "note": f"{b} has no ImageNet weights",
                }
            )
        else:
            rows.append(
                _claim(
                    f"transfer beats none ({data.name})",
                    reports,
                    phase,
                    f"{b} / imagenet",
                    f"{b} / none",
                    s,
                )
            )
        if source is not None:
            rows.append(
                _claim(
                    f"two-stage beats one-stage ({source.name} -> {data.name})",
                    reports,
                    phase,
                    f"{b} / two_stage",
                    f"{b} / {plan.one_stage}",
                    s,
                    ""
                    if plan.one_stage == "imagenet"
                    else f"one-stage is 'none': {b} has no ImageNet weights",
                )
            )
    return rows


# -- rendering ------------------------------------------------------------------------------
def _fmt_auc(v):
    return "" if v is None else f"{v[0]:.3f} [{v[1]:.2f}, {v[2]:.2f}]"


def _claims_markdown(rows):
    from ..evaluation._render import md_escape

    head = (
        "| claim | better | worse | ROC AUC better [95% CI] | ROC AUC worse [95% CI] | "
        "difference [patient-bootstrap 95% CI] | p (paired bootstrap) | p (DeLong) | verdict |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        diff = (
            ""
            if r["difference"] is None
            else f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        )
        cells = [
            r["claim"],
            r["better"],
            r["worse"],
            _fmt_auc(r["auc_better"]),
            _fmt_auc(r["auc_worse"]),
            diff,
            "" if r["p_bootstrap"] is None else f"{r['p_bootstrap']:.3g}",
            "" if r["p_delong"] is None else f"{r['p_delong']:.3g}",
            f"**{r['verdict']}**",
        ]
        lines.append(
            "| " + " | ".join(md_escape(c) if i < 8 else c for i, c in enumerate(cells)) + " |"
        )
    notes = [(r["claim"], r["note"]) for r in rows if r["note"]]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {md_escape(c)}: {md_escape(n)}" for c, n in notes]
    return "\n".join(lines)


_FIGURES = {
    "features": "Table 1 (feature sets, fusions, fine-tuned CNN)",
    "layers": "Table 2 with the layer curve (`layer_curve.png`)",
    "backbones": "Table 3 (backbones)",
    "ablation": "ablations (up-sampling, augmentation)",
}


def _render(plan, reports, claims, timings, pending):
    s = plan.settings
    lines = []
    if s["mode"] == "quick":
        lines += [QUICK_BANNER, ""]
    lines += ["# Reproduction of the study's claims", ""]
    data = plan.target.describe() + (
        f"; {plan.source.describe()}" if plan.source is not None else "; no source data set"
    )
    lines += [
        f"Data: {data}. Mode `{s['mode']}`: {s['cv']}-fold cross-validation (patient-grouped "
        f"where the data has patients), {s['n_boot']} bootstrap resamples (of patients), "
        f"seed {s['seed']}. Each claim compares two rows of one table, scored on the same "
        "images: ROC AUC of each with its 95% interval; their difference with the paired "
        "patient-bootstrap 95% interval and p-value; DeLong's paired test. The verdict "
        "reads the bootstrap interval of the difference.",
        "",
    ]
    if pending:
        lines += [
            f"**Incomplete: {len(pending)} units of work are not computed yet** (rerun the same "
            "command to continue); rows marked `pending` wait for them.",
            "",
        ]
    lines += ["## Claims", "", _claims_markdown(claims), ""]
    lines += ["## What ran instead", ""]
    lines += [f"- {n}" for n in plan.notes] or ["- nothing: every backbone ran with its weights"]
    lines += ["", "## Tables and figures", ""]
    for phase in plan.phases:
        what = _FIGURES.get(phase.name) or (
            phase.title.split(" (the study")[0]
            + ": the study's Fig. 6, with the learning curves (`learning_curves.png`)"
        )
        if phase.name in reports:
            lines.append(f"- {what}: [{phase.name}/report.md]({phase.name}/report.md)")
        else:
            lines.append(f"- {what}: pending")
    lines += ["", "## Settings", "", "```json", json.dumps(s, indent=2), "```", ""]
    lines += _timings_markdown(timings)
    return "\n".join(lines) + "\n"


#: everything below this heading varies from run to run (it is measured)
TIMINGS_HEADING = "## Wall time per phase"


def _timings_markdown(timings):
    lines = [
        TIMINGS_HEADING,
        "",
        "Seconds of computation summed over the phase's units, in whichever runs computed "
        "them (a unit shared by several tables counts in the first).",
        "",
        "| phase | units | computed | wall seconds | wall hours | CPU seconds |",
        "|---|---|---|---|---|---|",
    ]
    for phase, t in timings.items():
        lines.append(
            f"| {phase} | {t['units']} | {t['done']} | {t['seconds']:.0f} | "
            f"{t['seconds'] / 3600:.2f} | {t['cpu_seconds']:.0f} |"
        )
    return lines + [""]


def _timings(plan, store):
    owners = plan.owner()
    out = {}
    for phase in plan.phases:
        own = [plan.units[n] for n in phase.units if owners[n] == phase.name]
        done = [u for u in own if store.done(u)]
        cpu = [store.seconds(u, "cpu_seconds") for u in done]
        out[phase.name] = {
            "units": len(own),
            "done": len(done),
            "seconds": round(sum(store.seconds(u) for u in done), 1),
            # NaN-free sum over the units that recorded it (older units did not)
            "cpu_seconds": round(float(np.nansum(cpu)), 1),
        }
    return out


def _time_left(units, store):
    """Seconds left, from the mean time of the finished units of each kind; None if unknown."""
    done, left = {}, {}
    for unit in units:
        if store.done(unit):
            done.setdefault(unit.kind, []).append(store.seconds(unit))
        else:
            left[unit.kind] = left.get(unit.kind, 0) + 1
    total, unknown = 0.0, 0
    for kind, n in left.items():
        if kind in done:
            total += n * float(np.mean(done[kind]))
        else:
            unknown += n
    return total, unknown


def _format_eta(seconds, unknown):
    text = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
    return f"left ~{text}" + (f" + {unknown} units not yet timed" if unknown else "")


# -- the run --------------------------------------------------------------------------------
def _manifest(target, source, settings):
    return {
        "format": FORMAT_VERSION,
        "settings": settings,
        "target": {"name": target.name, "fingerprint": target.fingerprint()},
        "source": None
        if source is None
        else {"name": source.name, "fingerprint": source.fingerprint()},
    }


def _check_folder(out, manifest, protect):
    """Whether ``out`` is this run's folder to resume; raise if it may not be written."""
    from ..utils._output_folder import check_output_folder, folder_kind

    if folder_kind(out) != FOLDER_KIND:
        check_output_folder(out, kind=FOLDER_KIND, protect=protect)
        return False
    check_output_folder(out, kind=FOLDER_KIND, overwrite=True, protect=protect)
    try:
        found = json.loads((out / "study.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{out} is a reproduction folder without a readable study.json ({exc}): choose a "
            "new folder."
        ) from exc
    if found != manifest:
        differ = sorted(k for k in manifest if found.get(k) != manifest[k])
        if "settings" in differ:
            theirs = found.get("settings") or {}
            keys = sorted(
                k
                for k in set(manifest["settings"]) | set(theirs)
                if manifest["settings"].get(k) != theirs.get(k)
            )
            differ = [d for d in differ if d != "settings"] + [f"settings {keys}"]
        raise ValueError(
            f"{out} holds a reproduction of other {', '.join(differ)}: resume it with the same "
            "data and settings, or choose a new folder."
        )
    return True


def check_reproduction(output, target, source=None, settings=None, *, protect=()):
    """Raise unless :func:`reproduce_study` may write ``output``; say whether it resumes.

    The checks of :func:`reproduce_study` before any work, for a caller (the
    command line) that reports them before loading anything else.

    Parameters
    ----------
    output : str or path-like
        The reproduction folder.
    target : StudyData
        As for :func:`reproduce_study`.
    source : StudyData or None, default=None
        As for :func:`reproduce_study`.
    settings : dict or None, default=None
        The whole settings (:func:`study_settings`'s result); None: the
        quick mode's.
    protect : sequence of path-like, default=()
        As for :func:`reproduce_study`.

    Returns
    -------
    resumed : bool
        True when ``output`` holds a reproduction of this data and these
        settings (it will be continued), False when it will be created.

    Raises
    ------
    ValueError
        When ``output`` is a folder of the user's, a file, the working
        directory or one of its parents, is or lies inside the data, or holds
        a reproduction of other data or settings.

    Examples
    --------
    >>> import tempfile
    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(20, image_size=16, random_state=0)[:2]
    >>> with tempfile.TemporaryDirectory() as parent:
    ...     check_reproduction(Path(parent) / "new", StudyData(X, y))
    False
    """
    from ..nn import get_backbone_spec, list_layers
    from ._common import check_experiment_data

    settings = settings if settings is not None else study_settings("quick")
    if source is not None and source.name == target.name:
        raise ValueError(
            f"The target and the source need different names; both are {target.name!r}."
        )
    for data in (target, source):
        if data is not None:
            try:
                check_experiment_data(data.X, data.y, data.groups, settings["cv"])
            except ValueError as exc:
                raise ValueError(f"{data.name}: {exc}") from exc
    backbone = settings["backbone"]
    for name in (backbone, *settings["offline_backbones"]):
        try:
            get_backbone_spec(name)
        except ValueError as exc:
            raise ValueError(str(exc).split(" Valid backbones")[0]) from exc
    if settings["layers"] is not None:
        known = set(list_layers(backbone))
        unknown = [layer for layer in settings["layers"] if layer not in known]
        if unknown:
            raise ValueError(
                f"{backbone} has no layers {unknown}: see `skbreastcad layers {backbone}`."
            )
    return _check_folder(Path(output), _manifest(target, source, settings), protect)


def _open_folder(output, manifest, protect):
    """Create the reproduction folder, or check that an existing one is this run's to resume."""
    from ..utils._output_folder import write_folder

    out = Path(output)
    if _check_folder(out, manifest, protect):
        return out, True
    with write_folder(out, kind=FOLDER_KIND, protect=protect) as tmp:
        (tmp / "study.json").write_text(json.dumps(manifest, indent=2))
    return out, False


@substitute_docs(**EXPERIMENT_PARAMETERS)
def reproduce_study(
    target,
    output,
    *,
    source=None,
    mode="quick",
    settings=None,
    only=None,
    device="auto",
    protect=(),
    progress=True,
    log=None,
):
    """Run the study's whole protocol, resumably, and report every claim with its test.

    Phases, in order: Table 1 (Gabor, GLCM and Haar features, CNN features,
    their fusions, and the fine-tuned CNN), Table 2 (the layer probe and its
    curve), Fig. 6 on ``target`` (no transfer, ImageNet, two-stage through
    ``source``, with learning curves), Table 3 (the study's backbones, or
    the offline stand-ins when their weights are missing), Fig. 6 the other
    way round (``source`` as the target, ``target`` as stage 1) and the
    up-sampling/augmentation ablation. Each phase is a table of the
    :class:`~skbreastcad.evaluation.Report` kind (``<output>/<phase>/``),
    saved as soon as its units are computed.

    Every unit of work (a feature extraction, a classifier on one fold, a
    network fine-tuned on one fold) writes its result into
    ``<output>/units/`` atomically when it ends. Calling again with the same
    ``output``, data and settings resumes: finished units are read back,
    never recomputed. The report is always assembled from those files, so a
    resumed run and an uninterrupted one write the same claims.

    Parameters
    ----------
    target : StudyData
        The data set of the tables (the study's MRI; here mini-MIAS ROIs).
    output : str or path-like
        The reproduction folder: new (created), empty, or one this function
        wrote before with the same data and settings (resumed).
    source : StudyData or None, default=None
        The second data set: stage 1 of the two-stage transfer to
        ``target``, and the target of the transfer the other way round.
        None runs no two-stage rows.
    mode : {{"quick", "full"}}, default="quick"
        See :func:`study_settings`. The report of a quick run says in its
        first line that its verdicts are not the study's test.
    settings : dict or None, default=None
        Changes to the mode's settings (see :func:`study_settings`).
    only : str or None, default=None
        A :func:`fnmatch.fnmatch` pattern: compute only the units whose names
        match (and the extractions they read), e.g. ``"*/fold0"`` to time one
        fold of every phase. Other units stay pending for a later call.
    {device}
    protect : sequence of path-like, default=()
        The input data: ``output`` may not be, hold or lie inside them.
    progress : bool or "lines", default=True
        Show a progress bar with the estimated time left (tqdm), from the mean
        time of the finished units of each kind, those of earlier runs
        included; ``"lines"``: one line per finished unit instead, for a log
        file; False: nothing.
    log : callable or None, default=None
        Called with a line of text for every phase report written (and every
        unit with ``progress="lines"``); None writes through the progress bar,
        or on standard error.

    Returns
    -------
    result : StudyReproduction
        The claims (one row per claim: both ROC AUCs with their intervals, the
        difference with its patient-bootstrap interval and p-value, DeLong's
        p-value and the verdict), the phase reports, the wall time per phase
        and the units still pending. ``<output>/REPRODUCTION.md`` and
        ``claims.json`` hold the same claims, ``timings.json`` the wall times.

    Raises
    ------
    ValueError
        For unknown settings, data no experiment can run on, an ``output``
        that is not a reproduction folder of this data and these settings (a
        user's folder, a file, the working directory, the data), or a folder
        another process is running.

    Examples
    --------
    Fine-tuning networks takes minutes, so the call is not run here:

    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(60, image_size=40, random_state=0)[:2]
    >>> result = reproduce_study(StudyData(X, y, name="phantoms"), "reproduction",
    ...                          settings={{"backbone": "tiny_cnn"}})  # doctest: +SKIP
    >>> result.claims[["claim", "verdict"]]  # doctest: +SKIP
    """
    import fnmatch

    import pandas as pd

    from ..utils._tempdirs import try_lock

    s = study_settings(mode, **(settings or {}))
    check_reproduction(output, target, source, s, protect=protect)
    manifest = _manifest(target, source, s)
    out, resumed = _open_folder(output, manifest, protect)
    lock = try_lock(os.fspath(out / ".lock"), create=True)
    if lock is None:
        raise ValueError(
            f"Another process is running the reproduction in {out}: wait for it to end."
        )
    try:
        plan = _Plan(target, source, s, out, device)
        store = _Store(out)
        units = plan.ordered_units()
        wanted = set()
        for unit in units:
            if only is None or fnmatch.fnmatch(unit.name, only):
                wanted.update(plan._requires(unit.name))
        todo = [u for u in units if u.name in wanted and not store.done(u)]
        reports = {}

        from tqdm.auto import tqdm

        lines = progress == "lines"
        bar = tqdm(
            total=len(units),
            initial=sum(store.done(u) for u in units),
            desc="reproduce",
            unit="unit",
            disable=lines or not progress,
            dynamic_ncols=True,
        )
        if log is not None:
            say = log
        elif lines:

            def say(text):
                print(text, file=sys.stderr, flush=True)

        else:
            say = tqdm.write

        def refresh_postfix():
            left, unknown = _time_left([u for u in units if u.name in wanted], store)
            bar.set_postfix_str(_format_eta(left, unknown))
            return _format_eta(left, unknown)

        def finish_phases():
            for phase in plan.phases:
                if phase.name in reports:
                    continue
                if all(store.done(plan.units[n]) for n in phase.units):
                    report = _phase_report(phase, store, plan)
                    report.save(out / phase.name)
                    reports[phase.name] = report
                    say(f"{phase.title}: {out / phase.name / 'report.md'}")
                    write_report()

        def write_report():
            claims = _claims(plan, reports)
            pending = [u.name for u in units if not store.done(u)]
            timings = _timings(plan, store)
            _write_text(
                out / "claims.json", json.dumps({"mode": s["mode"], "claims": claims}, indent=2)
            )
            _write_text(out / "timings.json", json.dumps(timings, indent=2))
            _write_text(out / "REPRODUCTION.md", _render(plan, reports, claims, timings, pending))
            return claims, pending, timings

        from ..utils._faults import fault_point

        with bar:
            refresh_postfix()
            finish_phases()
            for unit in todo:
                bar.set_description(unit.name)
                start, cpu = time.perf_counter(), time.process_time()
                result = unit.run()
                seconds = round(time.perf_counter() - start, 3)
                # CPU seconds of all this process's threads: what the unit costs on an idle
                # machine, whatever the load it ran under
                store.save(unit, result, seconds, round(time.process_time() - cpu, 3))
                # tests kill the run here, after a unit is safely written
                fault_point(f"reproduce:{unit.name}")
                bar.update(1)
                eta = refresh_postfix()
                if lines:
                    done = sum(store.done(u) for u in units)
                    say(f"[{done}/{len(units)}] {unit.name}: {seconds:.1f} s; {eta}")
                finish_phases()
        claims, pending, timings = write_report()
        return StudyReproduction(out, pd.DataFrame(claims), reports, timings, pending)
    finally:
        os.close(lock)
