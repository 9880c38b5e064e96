"""The model card: what a saved model was trained on, how well it did, and what it is for."""

import json
import math
from dataclasses import dataclass, field, fields

__all__ = ["ModelCard", "card_dict", "render_readme"]

INTENDED_USE = (
    "Research only. This model is not a medical device: it has not been cleared or "
    "approved by any regulator, and its output must not be used to diagnose, screen "
    "or treat anyone."
)

LIMITATIONS = (
    "Its performance was measured on the data summarised above only; images from "
    "other scanners, sites, populations or preprocessing may give different results.",
    "The confidence intervals cover the sampling of patients in that data set, not a "
    "change of population or of acquisition.",
    "It sees one image (or region of interest) at a time: no prior images, no other "
    "view and no clinical information.",
)

_METRIC_KEYS = ("candidate", "metric", "estimate", "ci_low", "ci_high", "mean", "sd")


@dataclass
class ModelCard:
    """What a saved model was trained on, how well it did and what it is for.

    :func:`~skbreastcad.persistence.save_model` writes it as the folder's
    ``README.md`` (a Hugging Face model card with its YAML metadata block)
    and, as JSON, under ``"card"`` in ``config.json``.

    Parameters
    ----------
    name : str or None, default=None
        Title of the card; the estimator's class name when None.
    description : str or None, default=None
        A paragraph on what the model does.
    training_data : dict or None, default=None
        Summary of the training data: ``images``, ``patients``, ``classes``
        (label to count), ``modality``, ``dataset`` and any other plain values.
    metrics : Report, pandas.DataFrame, list of dict or None, default=None
        Cross-validated performance: a :class:`skbreastcad.evaluation.Report`,
        its tidy ``results`` or wide ``table()``, or records with ``metric``,
        ``estimate``, ``ci_low`` and ``ci_high``. Stored as records.
    evaluation : dict or None, default=None
        How ``metrics`` were measured (folds, bootstrap resamples, resampled
        units, confidence level); taken from a ``Report``'s configuration.
    threshold : float or None, default=None
        The decision threshold on the positive-class score, chosen on the
        training folds.
    threshold_policy : str or None, default=None
        How ``threshold`` was chosen (``"youden"``, ``"sensitivity=0.9"``...).
    intended_use : str, default=INTENDED_USE
        Research only, not a medical device.
    limitations : list of str, default=LIMITATIONS
        What the measured performance does not cover.
    command : str or None, default=None
        The command that reproduces the model.
    license : str or None, default=None
        An SPDX identifier, or ``"other"``.
    tags : list of str, default=[]
        Extra tags for the metadata block.

    See Also
    --------
    read_model_card : Read the card of a saved model.

    Examples
    --------
    >>> from skbreastcad.persistence import ModelCard
    >>> card = ModelCard(name="GLCM + logistic regression", threshold=0.42,
    ...                  training_data={"images": 120, "patients": 60})
    >>> card.to_dict()["training_data"]["patients"]
    60
    """

    name: str | None = None
    description: str | None = None
    training_data: dict | None = None
    metrics: object = None
    evaluation: dict | None = None
    threshold: float | None = None
    threshold_policy: str | None = None
    intended_use: str = INTENDED_USE
    limitations: list = field(default_factory=lambda: list(LIMITATIONS))
    command: str | None = None
    license: str | None = None
    tags: list = field(default_factory=list)

    def to_dict(self):
        """The card as JSON-ready data, metrics as records.

        Returns
        -------
        card : dict
            Every field; ``metrics`` as records, numpy values as Python ones.
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        metrics, evaluation = _metric_records(self.metrics)
        out["metrics"] = metrics
        out["evaluation"] = _plain(self.evaluation if self.evaluation is not None else evaluation)
        out["training_data"] = _plain(self.training_data)
        out["limitations"] = [str(x) for x in self.limitations]
        out["tags"] = [str(x) for x in self.tags]
        out["threshold"] = None if self.threshold is None else float(self.threshold)
        # fail here, not halfway through writing the folder
        json.dumps(out, allow_nan=False)
        return out

    @classmethod
    def from_dict(cls, data):
        """The card stored in ``config.json``.

        Parameters
        ----------
        data : dict
            What :meth:`to_dict` returned; unknown keys are ignored.

        Returns
        -------
        card : ModelCard
            The card, its ``metrics`` as records.
        """
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _plain(obj):
    """JSON-ready copy: numpy scalars and arrays to Python, tuples to lists, NaN to None."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _metric_records(metrics):
    """Records ``{candidate, metric, estimate, ci_low, ci_high, mean, sd}`` and how they
    were measured (from a ``Report``), from any accepted form of ``metrics``."""
    if metrics is None:
        return [], None
    evaluation = None
    if hasattr(metrics, "results") and hasattr(metrics, "config"):
        config = metrics.config
        evaluation = {
            key: config.get(key)
            for key in ("cv", "n_splits", "n_boot", "ci_method", "confidence_level")
            if key in config
        }
        evaluation["resampled_units"] = config.get("resampled_units")
        evaluation["threshold"] = config.get("threshold")
        metrics = metrics.results
    if hasattr(metrics, "columns"):
        frame = metrics
        if "metric" in frame.columns and "estimate" in frame.columns:
            rows = frame.to_dict(orient="records")
        else:
            rows = _wide_to_records(frame)
    else:
        rows = [dict(r) for r in metrics]
    records = []
    for row in rows:
        if "metric" not in row or "estimate" not in row:
            raise ValueError(
                "Each metric record needs 'metric' and 'estimate' (and ideally 'ci_low' and "
                f"'ci_high'); got keys {sorted(row)}."
            )
        records.append({k: _plain(row.get(k)) for k in _METRIC_KEYS if k in row})
    return records, evaluation


def _wide_to_records(table):
    """Records from :meth:`Report.table`'s wide layout (``m``, ``m_ci_low``, ...)."""
    suffixes = ("_ci_low", "_ci_high", "_mean", "_sd")
    names = [c for c in table.columns if not str(c).endswith(suffixes)]
    rows = []
    for candidate, values in table.iterrows():
        for m in names:
            row = {"candidate": str(candidate), "metric": str(m), "estimate": values[m]}
            for key in ("ci_low", "ci_high", "mean", "sd"):
                if f"{m}_{key}" in table.columns:
                    row[key] = values[f"{m}_{key}"]
            rows.append(row)
    return rows


# -- README.md ---------------------------------------------------------------------------
def _yaml_value(value):
    # JSON is a subset of YAML 1.2: every value below parses as itself
    return json.dumps(value, ensure_ascii=False)


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_readme(card, config):
    """The folder's ``README.md``: YAML metadata block, then the card in Markdown.

    Parameters
    ----------
    card : dict
        :meth:`ModelCard.to_dict`.
    config : dict
        The manifest (estimator, input convention, classes, versions).

    Returns
    -------
    text : str
    """
    name = card["name"] or config["estimator"]["class"].rpartition(".")[2]
    tags = ["skbreastcad", "scikit-learn", "breast-cancer", "computer-aided-diagnosis"]
    tags += ["research-only"] + [t for t in card["tags"] if t not in tags]
    task = config.get("task", "image-classification")
    meta = {
        "library_name": "skbreastcad",
        "license": card["license"] or "other",
        "tags": tags,
        "pipeline_tag": task,
    }
    metrics = card["metrics"]
    if metrics:
        dataset = (card["training_data"] or {}).get("dataset") or "training data"
        meta["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": task},
                        "dataset": {"name": str(dataset), "type": str(dataset)},
                        "metrics": [
                            {
                                "type": m["metric"],
                                "value": m["estimate"],
                                "name": f"{m['metric']} (cross-validated)",
                            }
                            for m in metrics
                        ],
                    }
                ],
            }
        ]
    lines = ["---"]
    lines += [f"{key}: {_yaml_value(value)}" for key, value in meta.items()]
    lines += ["---", "", f"# {name}", ""]
    if card["description"]:
        lines += [card["description"], ""]
    lines += ["## Intended use", "", card["intended_use"], ""]

    lines += ["## Training data", ""]
    data = card["training_data"] or {}
    if data:
        lines += [f"- **{key}**: {_describe(value)}" for key, value in data.items()]
    else:
        lines += ["Not recorded."]
    lines += [""]

    lines += ["## Performance", ""]
    if metrics:
        evaluation = card["evaluation"] or {}
        level = evaluation.get("confidence_level")
        units = evaluation.get("resampled_units")
        ci = f"{level:.0%} CI" if isinstance(level, float) else "CI"
        lines += [f"| candidate | metric | estimate | {ci} |", "|---|---|---|---|"]
        for m in metrics:
            interval = f"[{_fmt(m.get('ci_low'))}, {_fmt(m.get('ci_high'))}]"
            lines.append(
                f"| {m.get('candidate', '')} | {m['metric']} | {_fmt(m['estimate'])} | {interval} |"
            )
        lines += [""]
        how = ["Estimates on pooled out-of-fold predictions of a cross-validation"]
        if units:
            how.append(f"bootstrap intervals resampling {units}")
        if evaluation.get("n_boot"):
            how.append(f"{evaluation['n_boot']} resamples")
        lines += ["; ".join(how) + ".", ""]
    else:
        lines += ["The model was not evaluated when it was saved.", ""]

    lines += ["## Decision threshold", ""]
    if card["threshold"] is not None:
        policy = card["threshold_policy"] or "not recorded"
        lines += [
            f"Positive when the positive-class score is at least {card['threshold']:.6g} "
            f"(policy: {policy}).",
            "",
        ]
    elif task == "object-detection":
        lines += [
            "None: the detector ranks candidate lesions by score; `skbreastcad detect` keeps "
            "the `--max-candidates` highest of each film.",
            "",
        ]
    else:
        lines += ["None recorded: `predict` takes the most probable class.", ""]

    lines += ["## Input", ""]
    for key, value in config["input"].items():
        lines.append(f"- **{key}**: {'not recorded' if value is None else _describe(value)}")
    if config["classes"] is not None:
        lines.append(f"- **classes**: {_describe(config['classes'])}")
    lines += [""]

    lines += ["## Limitations", ""]
    lines += [f"- {item}" for item in card["limitations"]] or ["None recorded."]
    lines += [""]

    lines += ["## How to reproduce", ""]
    if card["command"]:
        lines += ["```bash", card["command"], "```", ""]
    else:
        lines += ["Not recorded.", ""]

    lines += [
        "## How to load",
        "",
        "```python",
        "from skbreastcad.persistence import load_model",
        'model = load_model("path/to/this/folder")',
        "```",
        "",
        "The folder holds no pickle: `model.safetensors` (tensors), `estimator.skops` "
        "(the scikit-learn object graph, loaded with `skops.io` and a list of trusted "
        "types) and `config.json` (the manifest, with a SHA-256 of every file).",
        "",
        "## Versions",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in config["versions"].items() if v is not None]
    lines += [""]
    return "\n".join(lines)


def _describe(value):
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def card_dict(card):
    """``card`` (a ModelCard, a dict or None) as :meth:`ModelCard.to_dict`."""
    if card is None:
        card = ModelCard()
    elif isinstance(card, dict):
        card = ModelCard(**card)
    elif not isinstance(card, ModelCard):
        raise TypeError(f"card must be a ModelCard, a dict or None; got {type(card).__name__}.")
    return card.to_dict()
