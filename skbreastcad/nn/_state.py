"""Serialising fitted torch modules without pickling code: state dicts and a rebuilt architecture.

A fitted deep estimator keeps its network in the attributes named by
``_torch_attributes``. Neither a plain pickle nor a model folder stores the
module object itself: both store its tensors (its ``state_dict``) and a
:class:`TorchModuleRef` with the few plain values needed to rebuild it
(which modules were in training mode, which parameters were frozen). On load
the estimator rebuilds the architecture from its own fitted state
(``_torch_architecture(name)``) and loads the tensors with
``load_state_dict(strict=True)``; no pickled torch object is ever loaded.

- Plain pickles (joblib, Dask, ``copy.deepcopy``) carry the state dict as
  ``torch.save`` bytes, read back with ``weights_only=True``.
- While :func:`exporting_tensors` is active (``skbreastcad.persistence.save_model``),
  the tensors are collected under unique keys for ``model.safetensors``;
  :func:`importing_tensors` hands them back while the model folder is read.
"""

import contextlib
import contextvars
import copy
import io
import weakref

from ..utils._optional import optional_import

__all__ = [
    "TensorExport",
    "TorchModuleRef",
    "TorchStateMixin",
    "exporting_tensors",
    "importing_tensors",
]

# What save_model / load_model hand to __getstate__ / __setstate__: they sit above
# this layer, so they reach the estimators through these variables, not arguments.
_EXPORT = contextvars.ContextVar("skbreastcad_tensor_export", default=None)
_IMPORT = contextvars.ContextVar("skbreastcad_tensor_import", default=None)
# device copies of fitted modules, (device, channels-last) -> copy, by module: dropped with it
_DEVICE_COPIES = weakref.WeakKeyDictionary()


class TensorExport:
    """The tensors collected from the estimators serialised while it is active.

    Attributes
    ----------
    tensors : dict of str to torch.Tensor
        Every collected tensor, on the CPU, under ``"<prefix>.<state_dict key>"``.
    modules : list of (estimator, str, TorchModuleRef)
        Each exported module: its estimator, its attribute and its reference.
    """

    def __init__(self):
        self.tensors = {}
        self.modules = []
        self._refs = {}

    def add(self, estimator, name, module):
        """Collect ``module``'s tensors under a fresh prefix; return its reference."""
        # skops may ask an object for its state more than once: one copy per module
        # (the module is kept alive by _refs, so its id is not reused meanwhile)
        if id(module) in self._refs:
            return self._refs[id(module)][1]
        prefix = f"m{len(self.modules)}.{type(estimator).__name__}.{name}"
        ref = TorchModuleRef.of(module, prefix)
        for key, tensor in module.state_dict().items():
            # safetensors refuses tensors sharing storage: each gets its own copy
            self.tensors[f"{prefix}.{key}"] = tensor.detach().to("cpu").contiguous().clone()
        self.modules.append((estimator, name, ref))
        self._refs[id(module)] = (module, ref)
        return ref


@contextlib.contextmanager
def exporting_tensors():
    """Collect torch modules' tensors instead of pickling them, while active.

    Yields
    ------
    export : TensorExport
    """
    export = TensorExport()
    token = _EXPORT.set(export)
    try:
        yield export
    finally:
        _EXPORT.reset(token)


@contextlib.contextmanager
def importing_tensors(tensors):
    """Let unpickled estimators find their modules' tensors in ``tensors``, while active.

    Parameters
    ----------
    tensors : dict of str to torch.Tensor

    Yields
    ------
    used : set of str
        The keys the rebuilt modules took (every key must be used).
    """
    used = set()
    token = _IMPORT.set((tensors, used))
    try:
        yield used
    finally:
        _IMPORT.reset(token)


class TorchModuleRef:
    """Where a module's tensors are and what its state dict does not hold.

    Plain values only, so that it serialises without pickle (``skops.io``) and
    loads without running code.

    Parameters
    ----------
    prefix : str
        Key prefix of the module's tensors.
    keys : list of str
        The module's ``state_dict`` keys.
    training : list of str
        Names of the sub-modules in training mode (``""`` is the module itself).
    frozen : list of str
        Names of the parameters with ``requires_grad=False``.
    attributes : dict
        Plain attributes of the root module (``ImageModel``'s ``input_size``,
        ``channels_last`` and ``frozen_``).
    payload : bytes or None
        The state dict as ``torch.save`` bytes, in a plain pickle; None in a
        model folder (the tensors are in ``model.safetensors``).
    """

    def __init__(self, prefix, keys, training, frozen, attributes, payload=None):
        self.prefix = prefix
        self.keys = keys
        self.training = training
        self.frozen = frozen
        self.attributes = attributes
        self.payload = payload

    @classmethod
    def of(cls, module, prefix, payload=None):
        attributes = {}
        for attr in ("input_size", "channels_last", "frozen_"):
            if hasattr(module, attr):
                value = getattr(module, attr)
                attributes[attr] = list(value) if isinstance(value, (tuple, list)) else value
        return cls(
            prefix=prefix,
            keys=list(module.state_dict()),
            training=[name for name, m in module.named_modules() if m.training],
            frozen=[name for name, p in module.named_parameters() if not p.requires_grad],
            attributes=attributes,
            payload=payload,
        )

    def restore(self, module, state_dict):
        """Load ``state_dict`` into the rebuilt ``module`` and restore the rest."""
        module.load_state_dict(state_dict, strict=True)
        for attr, value in self.attributes.items():
            if attr == "input_size":
                value = None if value is None else tuple(value)
            setattr(module, attr, value)
        frozen = set(self.frozen)
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(name not in frozen)
        training = set(self.training)
        # set the flags directly: ImageModel.train() would override frozen norm layers
        for name, m in module.named_modules():
            m.training = name in training
        return module


class TorchStateMixin:
    """Serialise the torch modules of an estimator as tensors plus a rebuildable architecture.

    Each attribute in ``_torch_attributes`` is replaced, in the pickled state,
    by a :class:`TorchModuleRef` holding the module's state dict (``torch.save``
    bytes, loaded back with ``weights_only=True`` and ``map_location="cpu"``:
    a model pickled on a GPU machine unpickles on a CPU-only one). On
    unpickling the estimator rebuilds the architecture with
    ``_torch_architecture(name)`` and loads the tensors into it. Device copies
    of the model, cached for speed outside the estimator, are never pickled.
    """

    _torch_attributes = ()

    def _torch_architecture(self, name):
        """A freshly built module with the architecture of the fitted attribute ``name``.

        Its weights are overwritten by the saved ones, so their initial
        values do not matter.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not say how to rebuild its torch attribute {name!r}."
        )

    def __getstate__(self):
        # object.__getstate__ may hand back the live __dict__: never edit it
        state = dict(super().__getstate__())
        state.pop("_device_cache", None)  # held by pickles of earlier versions
        export = _EXPORT.get()
        for name in self._torch_attributes:
            module = state.get(name)
            if module is None:
                continue
            if export is not None:
                state[name] = export.add(self, name, module)
            else:
                with optional_import(f"Pickling a fitted {type(self).__name__}"):
                    import torch

                buffer = io.BytesIO()
                torch.save(module.state_dict(), buffer)
                state[name] = TorchModuleRef.of(module, name, payload=buffer.getvalue())
        return state

    def __setstate__(self, state):
        for name in self._torch_attributes:
            if isinstance(state.get(name), _TorchBytes):
                raise ValueError(
                    f"This pickle of {type(self).__name__} was written by an older skbreastcad, "
                    f"which stored {name} as a pickled torch module; loading it would run "
                    "whatever code it holds. Load it with the release that wrote it (only if "
                    "you trust the file) and save it again with "
                    "skbreastcad.persistence.save_model."
                )
        refs = {
            name: state[name]
            for name in self._torch_attributes
            if isinstance(state.get(name), TorchModuleRef)
        }
        for name in refs:
            state[name] = None
        super().__setstate__(state)
        for name, ref in refs.items():
            setattr(self, name, self._rebuild_torch_attribute(name, ref))

    def _rebuild_torch_attribute(self, name, ref):
        with optional_import(f"Loading a fitted {type(self).__name__}"):
            import torch

        if ref.payload is not None:
            state_dict = torch.load(io.BytesIO(ref.payload), map_location="cpu", weights_only=True)
        else:
            imported = _IMPORT.get()
            if imported is None:
                raise RuntimeError(
                    f"{type(self).__name__}.{name} refers to tensors of a model folder; "
                    "load the folder with skbreastcad.persistence.load_model."
                )
            tensors, used = imported
            missing = [k for k in ref.keys if f"{ref.prefix}.{k}" not in tensors]
            if missing:
                raise ValueError(
                    f"model.safetensors lacks {len(missing)} tensor(s) of "
                    f"{type(self).__name__}.{name}, e.g. {ref.prefix + '.' + missing[0]!r}."
                )
            state_dict = {k: tensors[f"{ref.prefix}.{k}"] for k in ref.keys}
            used.update(f"{ref.prefix}.{k}" for k in ref.keys)
        with torch.random.fork_rng(devices=[]):
            module = self._torch_architecture(name)
        try:
            return ref.restore(module, state_dict)
        except RuntimeError as exc:
            raise ValueError(
                f"The saved tensors of {type(self).__name__}.{name} do not fit the "
                f"architecture rebuilt from its settings ({exc})."
            ) from None

    def _model_on(self, device, channels_last=False):
        """The fitted model on ``device`` (cached; the CPU master copy stays put).

        The copy is cached beside the estimator, keyed by its fitted module,
        not in the estimator's ``__dict__``: predicting leaves the estimator
        as it was (scikit-learn's ``check_dict_unchanged``), and a refit,
        whose module is new, never meets the old copy.
        """
        model = self._torch_model()
        if device.type == "cpu" and not channels_last:
            return model
        key = (str(device), bool(channels_last))
        cached = _DEVICE_COPIES.get(model)
        if cached is None or cached[0] != key:
            with optional_import(type(self).__name__):
                import torch

            from ._image_model import ImageModel

            moved = copy.deepcopy(model).to(device)
            if channels_last:
                moved = moved.to(memory_format=torch.channels_last)
            if isinstance(moved, ImageModel):
                moved.channels_last = bool(channels_last)
            cached = _DEVICE_COPIES[model] = (key, moved)
        return cached[1]


class _TorchBytes:
    """The whole-module ``torch.save`` payload of pickles from older releases.

    Kept so that such a pickle fails with a message rather than an
    ``AttributeError``; its payload is never loaded.
    """

    __slots__ = ("data",)

    def __getstate__(self):
        return self.data

    def __setstate__(self, data):
        self.data = data
