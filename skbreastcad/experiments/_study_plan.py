"""The reproduction's plan: its phases and their units (feature extractions, fold fits, fine-tunes)."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._study_data import StudyData
from ._study_settings import PROBE_LAYERS
from ._study_units import _classifier_result, _feature_fit, _history_rows, _Store, _Unit


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
