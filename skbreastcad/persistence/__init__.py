"""Fitted models as folders that load without running code, with their model card.

- :func:`save_model` writes a folder laid out as a Hugging Face model
  repository: ``model.safetensors`` (the tensors), ``estimator.skops`` (the
  scikit-learn object graph, written by :mod:`skops.io`), ``config.json``
  (the manifest, with a SHA-256 of every file) and ``README.md`` (the model
  card).
- :func:`load_model` checks the folder (format version, digests, trusted
  types) before constructing anything, and refuses pickles unless told to
  trust them.
- :class:`ModelCard`, :func:`read_model_card`: what the model was trained
  on, how well it did, its threshold, its intended use and limitations.

``persistence`` sits above every estimator package and below the command line.
The format is described in ``docs/models.md``.
"""

from ._card import ModelCard
from ._folder import FORMAT_VERSION, ModelFolderError, load_model, read_model_card, save_model
from ._trust import UntrustedTypesError, default_trusted_types

__all__ = [
    "FORMAT_VERSION",
    "ModelCard",
    "ModelFolderError",
    "UntrustedTypesError",
    "default_trusted_types",
    "load_model",
    "read_model_card",
    "save_model",
]
