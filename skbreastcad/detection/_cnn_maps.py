"""Dense CNN feature maps of whole films: one fully convolutional pass of a frozen backbone.

A window CNN slid over a film recomputes every overlapping pixel once per
window (``lesion_map``: about a minute per film). Run once on the whole film,
the same convolutions give every window's features at the network's stride
for the price of one forward pass; the detector samples these maps at its
own grid and appends them (after a PCA fitted on training films) to its
filter features.
"""

import functools

import numpy as np
from scipy import ndimage as ndi

from ._preprocess import _block_mean

__all__ = []

# a priori choices (not tuned on the evaluation folds): EfficientNet-Lite0's block 2
# (40 channels: edges and small blobs) and block 4 (112 channels: mass-sized structure)
# on the film halved to 0.4 mm per pixel (strides 16 and 32 film pixels). The full
# 1024-px pass costs five times more on 2 cores (2.4 s against 0.5 s)
CNN_BLOCKS = (2, 4)
CNN_REDUCTIONS = (2,)


@functools.lru_cache(maxsize=2)
def _network(name):
    """The frozen backbone (built once per process: loading the weights costs a second)."""
    from ..nn import build_backbone

    backbone = build_backbone(name, weights="imagenet" if name != "tiny_cnn" else None)
    return backbone


def _check_blocks(model, blocks):
    if not hasattr(model, "blocks") or not hasattr(model, "conv_stem"):
        raise ValueError(
            "cnn_backbone must be an EfficientNet-style network (conv_stem, bn1, blocks); "
            f"got {type(model).__name__}."
        )
    n = len(model.blocks)
    if not blocks or min(blocks) < 0 or max(blocks) >= n:
        raise ValueError(f"blocks must be indices into the network's {n} blocks; got {blocks}.")


def cnn_forward(model, image, blocks=CNN_BLOCKS):
    """Feature maps of an EfficientNet's ``blocks`` on one normalised image (fully convolutional).

    Parameters
    ----------
    model : torch.nn.Module
        An EfficientNet (timm layout: ``conv_stem``, ``bn1``, ``blocks``), in eval mode.
    image : ndarray of shape (height, width)
        Grey image already normalised to the network's input range; it is
        repeated over the three colour channels.
    blocks : tuple of int
        Indices of the blocks whose outputs are returned.

    Returns
    -------
    maps : list of ndarray of shape (channels, height // stride, width // stride)
        float32, one per block, in the order of ``blocks``.
    """
    import torch

    _check_blocks(model, blocks)
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    x = x.expand(1, 3, *image.shape)
    out = []
    with torch.inference_mode():
        x = model.bn1(model.conv_stem(x))
        for k, block in enumerate(model.blocks[: max(blocks) + 1]):
            x = block(x)
            if k in blocks:
                out.append(x[0].numpy().astype(np.float32))
    return out


def _cnn_maps(canonical_film, name, reductions, blocks):
    """Per reduction and block: (map float16, stride in film pixels) of a film (chest wall left)."""
    backbone = _network(name)
    image = np.asarray(canonical_film, np.float32)
    # EfficientNet-Lite's inputs are (x - 127.5) / 127.5 of 8-bit grey levels
    scale = 127.5 if image.max() <= 255 else float(image.max()) / 2
    out = []
    for r in reductions:
        small = _block_mean(image, r) if r > 1 else image
        maps = cnn_forward(backbone.model, small / scale - 1.0, blocks)
        for m in maps:
            stride = r * small.shape[0] / m.shape[1]
            out.append((m.astype(np.float16), float(stride)))
    return out


def film_cnn_maps(films, records, memory, name, flip_tta):
    """Per film, ``(maps, mirrored, width)``: the CNN maps of the film turned chest wall left
    (cached in ``memory``), and with ``flip_tta`` those of its mirror image and its width
    (else None, None), as :func:`_sample_maps` takes them."""
    cnn = memory.cache(_cnn_maps)
    args = (name, CNN_REDUCTIONS, CNN_BLOCKS)
    out = []
    for film, rec in zip(films, records, strict=True):
        canonical = np.asarray(film)[:, ::-1] if rec["flipped"] else np.asarray(film)
        mirrored = (cnn(canonical[:, ::-1], *args), canonical.shape[1]) if flip_tta else (None,) * 2
        out.append((cnn(canonical, *args), *mirrored))
    return out


def _read_maps(maps, y, x):
    """Every channel of ``maps`` interpolated (bilinear) at film coordinates ``(y, x)``."""
    columns = []
    for m, stride in maps:
        coords = np.vstack([(y - (stride - 1) / 2) / stride, (x - (stride - 1) / 2) / stride])
        m = m.astype(np.float32)
        for channel in m:
            columns.append(ndi.map_coordinates(channel, coords, order=1, mode="nearest"))
    if not columns:
        return np.empty((len(y), 0), np.float32)
    return np.column_stack(columns).astype(np.float32)


def _sample_maps(maps, mirrored, width, entry):
    """The CNN columns of a scale entry's searched pixels: maps interpolated at window centres.

    ``mirrored`` (or None): the maps of the film mirrored left-right, whose
    columns are read at each pixel's mirror image ``width - 1 - x`` and
    averaged with the film's own (flip test-time augmentation).
    """
    f = entry["f"]
    # canonical film coordinates of the scaled pixels' centres
    y = entry["rows"] * f + (f - 1) / 2
    x = entry["cols"] * f + (f - 1) / 2
    columns = _read_maps(maps, y, x)
    if mirrored is not None:
        columns = (columns + _read_maps(mirrored, y, width - 1 - x)) / 2
    return columns
