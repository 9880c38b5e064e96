"""Saving a fitted estimator as a model folder, and loading one without running its code."""

import datetime
import hashlib
import json
import os
import warnings
from contextlib import contextmanager

import numpy as np

from ..utils._output_folder import set_umask_mode, write_folder
from ._card import ModelCard, card_dict, render_readme
from ._trust import check_trusted, type_name

__all__ = ["FORMAT_VERSION", "ModelFolderError", "load_model", "read_model_card", "save_model"]

# The key that marks a config.json as ours: save_model replaces only folders holding it.
FORMAT_KEY = "skbreastcad_model_format"
# Bump when what a folder holds, or how it is read, changes; add a reader of the old
# version to _UPGRADES (or a reason why there is none to _UNREADABLE).
FORMAT_VERSION = 1
_UPGRADES = {}
_UNREADABLE = {}

CONFIG = "config.json"
ESTIMATOR = "estimator.skops"
TENSORS = "model.safetensors"
README = "README.md"
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin")


_SELF_DIGEST = "manifest_sha256"


def _config_digest(config):
    """SHA-256 of the manifest without its own digest: catches an edited config.json."""
    body = {k: v for k, v in config.items() if k != _SELF_DIGEST}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


class ModelFolderError(ValueError):
    """A path that is not a model folder this release can load, or that failed its checks.

    A pickle, a folder of a newer format, a file that does not match the
    manifest, a missing tensor.

    Examples
    --------
    >>> import pickle, tempfile, os
    >>> from skbreastcad.persistence import ModelFolderError, load_model
    >>> path = os.path.join(tempfile.mkdtemp(), "model.pkl")
    >>> with open(path, "wb") as f:
    ...     pickle.dump({"any": "object"}, f)
    >>> try:
    ...     load_model(path)
    ... except ModelFolderError as exc:
    ...     print("refused:", "trust_pickle=True" in str(exc))
    refused: True
    """


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions():
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for name in (
        "skbreastcad",
        "numpy",
        "scipy",
        "scikit-learn",
        "imbalanced-learn",
        "torch",
        "torchvision",
        "skorch",
        "skops",
        "safetensors",
    ):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    from .. import __version__

    # the running code, which an editable install's metadata may not match
    out["skbreastcad"] = __version__
    return out


def _public_name(cls):
    """``skbreastcad.models.TwoStageTransferClassifier`` rather than its private module."""
    import importlib

    module = cls.__module__
    parts = module.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        try:
            if getattr(importlib.import_module(parent), cls.__name__, None) is cls:
                return f"{parent}.{cls.__name__}"
        except ImportError:
            continue
    return type_name(cls)


def _json_param(value):
    """A parameter as JSON: plain values as they are, anything else as a short repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not np.isfinite(value):
            return repr(value)
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return _json_param(value.item())
    if isinstance(value, (list, tuple)) and len(value) <= 32:
        return [_json_param(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


def _walk(est, seen=None):
    """The estimator and every estimator nested in it (steps, members, wrapped models)."""
    seen = set() if seen is None else seen
    if id(est) in seen:
        return
    seen.add(id(est))
    yield est
    children = []
    for attr in ("steps", "transformer_list"):
        for item in getattr(est, attr, None) or []:
            if isinstance(item, tuple) and len(item) >= 2:
                children.append(item[1])
    for attr in ("estimator_", "estimators_", "best_estimator_", "estimator", "estimators"):
        value = getattr(est, attr, None)
        children.extend(value if isinstance(value, (list, tuple)) else [value])
    for child in children:
        if child is not None and hasattr(child, "get_params"):
            yield from _walk(child, seen)


def _input_convention(estimator, override):
    """Image shape, dtype, value range and resize of the fitted estimator's inputs."""
    found = {"image_shape": None, "dtype": None, "value_range": None, "input_size": None}
    for est in _walk(estimator):
        if found["image_shape"] is None and getattr(est, "image_shape_", None) is not None:
            found["image_shape"] = [int(v) for v in est.image_shape_]
        scaling = getattr(est, "_input_scaling", None)
        if found["dtype"] is None and scaling is not None:
            found["dtype"] = str(np.dtype(scaling[0]))
        if found["value_range"] is None and "value_range" in getattr(est, "__dict__", {}):
            found["value_range"] = _json_param(est.value_range)
        if found["input_size"] is None and getattr(est, "input_size_", None) is not None:
            found["input_size"] = [int(v) for v in est.input_size_]
    if override:
        unknown = set(override) - set(found)
        if unknown:
            raise ValueError(
                f"input_convention takes {sorted(found)}; got unknown key(s) {sorted(unknown)}."
            )
        for key, value in override.items():
            if key == "dtype" and value is not None:
                value = str(np.dtype(value))
            found[key] = _json_param(value)
    return found


def _classes(estimator):
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return None
    return [c.item() if isinstance(c, np.generic) else c for c in np.asarray(classes).tolist()]


def _check_fitted(estimator):
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(estimator, "get_params"):
        raise TypeError(
            f"save_model saves scikit-learn estimators; got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)


def _check_target(path, overwrite):
    """Refuse to replace anything that is not a model folder of ours, or without ``overwrite``."""
    if os.path.islink(path):
        raise FileExistsError(f"{path} is a symbolic link; save_model does not replace it.")
    if not os.path.lexists(path):
        return False
    if not os.path.isdir(path):
        raise FileExistsError(
            f"{path} is a file; save_model writes a folder and never replaces a file."
        )
    if not os.listdir(path):
        return False
    if not _is_model_folder(path):
        raise FileExistsError(
            f"{path} is a folder that is not a skbreastcad model folder (no {CONFIG} with "
            f"{FORMAT_KEY!r}); save_model does not replace it. Choose another path."
        )
    if not overwrite:
        raise FileExistsError(f"{path} holds a saved model; pass overwrite=True to replace it.")
    return True


def _is_model_folder(path):
    try:
        with open(os.path.join(path, CONFIG), encoding="utf-8") as f:
            return FORMAT_KEY in json.load(f)
    except (OSError, ValueError, TypeError):
        return False


def _check_rebuildable(export):
    """Every exported network must be rebuildable from its estimator's settings, now."""
    import torch

    for estimator, name, ref in export.modules:
        shapes = {k: tuple(export.tensors[f"{ref.prefix}.{k}"].shape) for k in ref.keys}
        try:
            # the meta device builds the architecture without allocating its weights
            with torch.device("meta"), torch.random.fork_rng(devices=[]):
                module = estimator._torch_architecture(name)
            rebuilt = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        except Exception as exc:
            raise ValueError(
                f"{type(estimator).__name__}.{name} cannot be rebuilt from the estimator's "
                f"settings ({type(exc).__name__}: {exc}), so it cannot be saved without "
                "pickling its code. Use a backbone the registry builds by name."
            ) from exc
        if rebuilt != shapes:
            differ = sorted(set(rebuilt) ^ set(shapes)) or sorted(
                k for k in shapes if shapes[k] != rebuilt[k]
            )
            raise ValueError(
                f"{type(estimator).__name__}.{name} is not the network its settings build "
                f"(backbone {getattr(estimator, 'backbone', '?')!r}); they differ at "
                f"{', '.join(differ[:5])}. A network edited or replaced after fitting cannot "
                "be saved without pickling its code."
            )


def _estimators_in(estimator):
    """The estimator and every estimator it holds: in parameters, fitted attributes, steps."""
    seen, stack, out = set(), [estimator], []
    while stack:
        obj = stack.pop()
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
            continue
        if id(obj) in seen or not hasattr(obj, "get_params") or isinstance(obj, type):
            continue
        seen.add(id(obj))
        out.append(obj)
        stack.extend(vars(obj).values())
    return out


@contextmanager
def _without_caches(estimator):
    """Save every ``memory`` parameter as None, and put the user's back afterwards.

    A cache folder belongs to the machine, not the model; and a loaded model
    must not read joblib's pickled cache entries from a folder its manifest names.
    """
    held = [
        (est, est.memory)
        for est in _estimators_in(estimator)
        if "memory" in est.get_params(deep=False) and getattr(est, "memory", None) is not None
    ]
    try:
        for est, _ in held:
            est.memory = None
        yield
    finally:
        for est, memory in held:
            est.memory = memory


def _task(estimator):
    """The Hugging Face task of the model: lesion detection on films, or classification."""
    return (
        "object-detection" if hasattr(estimator, "predict_candidates") else "image-classification"
    )


def _write_tensors(tensors, path):
    if tensors:
        from safetensors.torch import save_file

        save_file(tensors, path, metadata={"format": "pt"})
    else:
        # the same layout without torch: an empty tensor file
        from safetensors.numpy import save_file

        save_file({}, path, metadata={"format": "np"})


def save_model(
    estimator, path, *, card=None, input_convention=None, overwrite=False, warn_untrusted=True
):
    """Save a fitted estimator as a model folder that loads without running code.

    The folder is laid out as the Hugging Face Hub expects a model repository:

    - ``model.safetensors``: every torch tensor of the model;
    - ``estimator.skops``: the scikit-learn object graph, written by
      :mod:`skops.io` (no pickle), the networks replaced by references into
      ``model.safetensors``;
    - ``config.json``: the manifest (format version, package versions, the
      estimator's class and parameters, the input convention, the class
      labels, the decision threshold, the card as JSON and a SHA-256 of every
      other file);
    - ``README.md``: the model card, with its YAML metadata block.

    The folder is written under a temporary name and renamed into place.

    Parameters
    ----------
    estimator : estimator
        A fitted skbreastcad estimator, pipeline or ensemble.
    path : str or path-like
        The folder to write. It must not exist, be empty, or (with
        ``overwrite=True``) hold a model saved by this function; nothing
        else is ever replaced.
    card : ModelCard, dict or None, default=None
        The model card (training data, metrics, threshold, command).
    input_convention : dict or None, default=None
        Overrides of the input convention found in the estimator:
        ``image_shape``, ``dtype``, ``value_range``, ``input_size``. The
        texture features do not record the dtype they were fitted on: pass
        ``{"dtype": X.dtype}``.
    overwrite : bool, default=False
        Replace a model folder saved earlier at ``path``.
    warn_untrusted : bool, default=True
        Warn when the estimator holds types that :func:`load_model` refuses
        unless the user trusts them.

    Returns
    -------
    path : str
        The folder written.

    Raises
    ------
    FileExistsError
        When ``path`` is a file, a symbolic link, a folder of something else,
        or a model folder and ``overwrite`` is False.
    ValueError
        When a network cannot be rebuilt from its estimator's settings (it
        would have to be pickled).

    See Also
    --------
    load_model : Load the folder.
    ModelCard : What the card records.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skbreastcad.features import HaarFeatures
    >>> from skbreastcad.persistence import ModelCard, load_model, save_model
    >>> X = np.random.default_rng(0).integers(0, 256, (8, 24, 24), dtype=np.uint8)
    >>> y = np.array([0, 1] * 4)
    >>> model = make_pipeline(HaarFeatures(), LogisticRegression()).fit(X, y)
    >>> folder = os.path.join(tempfile.mkdtemp(), "haar-model")
    >>> _ = save_model(model, folder, card=ModelCard(name="Haar demo"))
    >>> sorted(os.listdir(folder))
    ['.skbreastcad-folder.json', 'README.md', 'config.json', 'estimator.skops', 'model.safetensors']
    >>> bool((load_model(folder).predict(X) == model.predict(X)).all())
    True
    """
    import skops.io as sio

    from ..nn._state import exporting_tensors

    _check_fitted(estimator)
    path = os.path.abspath(os.fspath(path))
    card = card_dict(card)
    replace = _check_target(path, overwrite)

    with _without_caches(estimator):
        with exporting_tensors() as export:
            data = sio.dumps(estimator)
        params = {k: _json_param(v) for k, v in sorted(estimator.get_params(deep=False).items())}
    if export.modules:
        _check_rebuildable(export)
    untrusted = sio.get_untrusted_types(data=data)
    try:
        check_trusted(untrusted, (), "The estimator")
    except ValueError as exc:
        if warn_untrusted:
            warnings.warn(
                f"{exc} save_model writes it anyway; load_model will need trusted=[...].",
                UserWarning,
                stacklevel=2,
            )

    config = {
        FORMAT_KEY: FORMAT_VERSION,
        "library_name": "skbreastcad",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "estimator": {
            "class": _public_name(type(estimator)),
            "params": params,
        },
        "task": _task(estimator),
        "input": _input_convention(estimator, input_convention),
        "classes": _classes(estimator),
        "threshold": None
        if card["threshold"] is None
        else {"value": card["threshold"], "policy": card["threshold_policy"]},
        "tensors": {
            "count": len(export.tensors),
            "modules": [
                {"estimator": type(est).__name__, "attribute": name, "prefix": ref.prefix}
                for est, name, ref in export.modules
            ],
        },
        "card": card,
    }

    # the one safe writer: a temporary folder renamed into place, umask modes, nothing left
    # behind on failure, and never '.', its parents or a folder that is not a model folder
    with write_folder(
        path, kind="model", version=FORMAT_VERSION, overwrite=replace, owned=_is_model_folder
    ) as tmp:
        tmp = os.fspath(tmp)
        with open(os.path.join(tmp, ESTIMATOR), "wb") as f:
            f.write(data)
        _write_tensors(export.tensors, os.path.join(tmp, TENSORS))
        set_umask_mode(os.path.join(tmp, TENSORS))  # safetensors writes 0600
        with open(os.path.join(tmp, README), "w", encoding="utf-8") as f:
            f.write(render_readme(card, config))
        config["files"] = {
            name: {
                "sha256": _sha256(os.path.join(tmp, name)),
                "size": os.path.getsize(os.path.join(tmp, name)),
            }
            for name in (ESTIMATOR, TENSORS, README)
        }
        config[_SELF_DIGEST] = _config_digest(config)
        with open(os.path.join(tmp, CONFIG), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, allow_nan=False)
            f.write("\n")
    return path


# -- loading ---------------------------------------------------------------------------------
def _pickle_refusal(path, what):
    return ModelFolderError(
        f"{path} is {what}. Loading a pickle runs whatever code it holds, so load_model "
        "refuses it. Save models with skbreastcad.persistence.save_model; to load this "
        "file anyway, only if you trust its source, pass trust_pickle=True."
    )


def _load_pickle(path):
    import joblib

    warnings.warn(
        f"Loading the pickle {path} with trust_pickle=True: it runs any code it holds.",
        UserWarning,
        stacklevel=3,
    )
    return joblib.load(path)


def _read_config(path):
    config_path = os.path.join(path, CONFIG)
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except ValueError as exc:
        raise ModelFolderError(f"{config_path} is not valid JSON ({exc}).") from None
    if not isinstance(config, dict) or FORMAT_KEY not in config:
        raise ModelFolderError(
            f"{config_path} is not a skbreastcad model manifest (no {FORMAT_KEY!r} key)."
        )
    version = config[FORMAT_KEY]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFolderError(f"{config_path} has an invalid format version {version!r}.")
    if version > FORMAT_VERSION:
        raise ModelFolderError(
            f"{path} was saved in model format {version} by skbreastcad "
            f"{config.get('versions', {}).get('skbreastcad', '?')}; this release "
            f"reads format {FORMAT_VERSION} and older. Upgrade skbreastcad to load it."
        )
    if config.get(_SELF_DIGEST) != _config_digest(config):
        raise ModelFolderError(
            f"{config_path} was changed after saving (it does not match its own "
            f"{_SELF_DIGEST}). Refusing to load it."
        )
    while version < FORMAT_VERSION:
        if version in _UNREADABLE:
            raise ModelFolderError(
                f"{path} was saved in model format {version}, which this release cannot "
                f"read: {_UNREADABLE[version]}"
            )
        config = _UPGRADES[version](config)
        version = config[FORMAT_KEY]
    return config


def _verify_files(path, config):
    files = config.get("files")
    if not isinstance(files, dict) or not {ESTIMATOR, TENSORS} <= set(files):
        raise ModelFolderError(
            f"{os.path.join(path, CONFIG)} lists no digests of {ESTIMATOR} and {TENSORS}."
        )
    for name, entry in files.items():
        if os.path.basename(name) != name or name in (CONFIG, "", ".", ".."):
            raise ModelFolderError(f"{os.path.join(path, CONFIG)} lists an invalid file {name!r}.")
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            raise ModelFolderError(f"{file} is missing; the manifest lists it.")
        size = os.path.getsize(file)
        if size != entry.get("size"):
            raise ModelFolderError(
                f"{file} has {size} bytes, the manifest says {entry.get('size')}: it is "
                "truncated or was changed after saving. Refusing to load it."
            )
        if _sha256(file) != entry.get("sha256"):
            raise ModelFolderError(
                f"{file} does not match its SHA-256 in the manifest: it was changed after "
                "saving. Refusing to load it."
            )


def _read_tensors(path, config):
    file = os.path.join(path, TENSORS)
    expected = int(config.get("tensors", {}).get("count", 0))
    try:
        if expected == 0:
            from safetensors.numpy import load_file
        else:
            from safetensors.torch import load_file
        tensors = load_file(file)
    except Exception as exc:
        raise ModelFolderError(f"{file} cannot be read as safetensors ({exc}).") from None
    if len(tensors) != expected:
        raise ModelFolderError(
            f"{file} holds {len(tensors)} tensors; the manifest says {expected}."
        )
    return tensors


def _model_folder(path, trust_pickle):
    """``path`` as a checked model folder, or the pickle file ``trust_pickle`` lets through."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model at {path}: no such file or folder.")
    if not os.path.isdir(path):
        if trust_pickle:
            return None, path
        raise _pickle_refusal(path, "a file, not a model folder (a pickle or joblib file?)")
    pickles = sorted(n for n in os.listdir(path) if n.lower().endswith(_PICKLE_SUFFIXES))
    has_config = os.path.isfile(os.path.join(path, CONFIG))
    if pickles and not trust_pickle:
        raise _pickle_refusal(
            os.path.join(path, pickles[0]), "a pickle file inside the model folder"
        )
    if not has_config:
        if trust_pickle and len(pickles) == 1:
            return None, os.path.join(path, pickles[0])
        raise ModelFolderError(
            f"{path} is not a skbreastcad model folder: it has no {CONFIG}. Save models "
            "with skbreastcad.persistence.save_model."
        )
    return path, None


def load_model(path, *, trusted=None, trust_pickle=False):
    """Load a model folder written by :func:`save_model`, without running code from it.

    Before anything is constructed, the folder is checked: its format version,
    the SHA-256 and size of every file against the manifest, and the types the
    scikit-learn graph holds against those trusted. Networks are rebuilt from
    their estimators' settings and their tensors read from
    ``model.safetensors``; every tensor must be used.

    Parameters
    ----------
    path : str or path-like
        The model folder.
    trusted : list of str or type, default=None
        Types to trust besides skops' defaults and
        :func:`default_trusted_types` (``"module.QualifiedName"`` strings or
        classes). A folder holding any other type is refused with an
        :class:`UntrustedTypesError` naming them.
    trust_pickle : bool, default=False
        Load a pickle or joblib file (or a folder holding exactly one, and no
        manifest) with :func:`joblib.load`, with a warning. Pickles run any
        code they hold: pass it only for files from a trusted source.

    Returns
    -------
    estimator : estimator
        The fitted estimator, on the CPU.

    Raises
    ------
    ModelFolderError
        For a pickle (without ``trust_pickle``), a folder of a newer format,
        a file that does not match the manifest, or a missing tensor.
    UntrustedTypesError
        For types that are not trusted.

    See Also
    --------
    save_model : Write the folder.
    read_model_card : The card alone.

    Examples
    --------
    >>> from skbreastcad.persistence import load_model
    >>> load_model("model.pkl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: No model at ...model.pkl: no such file or folder.
    """
    import skops.io as sio

    from ..nn._state import importing_tensors

    path = os.path.abspath(os.fspath(path))
    folder, pickle_file = _model_folder(path, trust_pickle)
    if folder is None:
        return _load_pickle(pickle_file)
    config = _read_config(folder)
    _verify_files(folder, config)
    skops_file = os.path.join(folder, ESTIMATOR)
    try:
        untrusted = sio.get_untrusted_types(file=skops_file)
    except Exception as exc:
        raise ModelFolderError(f"{skops_file} cannot be read by skops.io ({exc}).") from None
    check_trusted(untrusted, trusted, skops_file)
    tensors = _read_tensors(folder, config)
    with importing_tensors(tensors) as used:
        estimator = sio.load(skops_file, trusted=untrusted)
    unused = sorted(set(tensors) - used)
    if unused:
        raise ModelFolderError(
            f"{os.path.join(folder, TENSORS)} holds {len(unused)} tensor(s) no estimator "
            f"refers to, e.g. {unused[0]!r}: the folder's files do not belong together."
        )
    return estimator


def read_model_card(path):
    """The model card of a saved model (no estimator is loaded).

    Parameters
    ----------
    path : str or path-like
        The model folder.

    Returns
    -------
    card : ModelCard
        Its ``metrics`` are records (dicts).

    Examples
    --------
    >>> from skbreastcad.persistence import read_model_card
    >>> read_model_card("no-such-folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: No model at ...no-such-folder: no such file or folder.
    """
    path = os.path.abspath(os.fspath(path))
    folder, _ = _model_folder(path, trust_pickle=False)
    config = _read_config(folder)
    _verify_files(folder, config)
    return ModelCard.from_dict(config.get("card") or {})


def read_config(path):
    """The checked manifest of a model folder (for the command line)."""
    path = os.path.abspath(os.fspath(path))
    folder, _ = _model_folder(path, trust_pickle=False)
    config = _read_config(folder)
    _verify_files(folder, config)
    return config
