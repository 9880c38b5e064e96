"""Units of work of a reproduction: each written atomically into the output folder, read back on resume."""

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
