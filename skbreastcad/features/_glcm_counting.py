"""The pair counting of the GLCM features: which pairs, in which chunks, counted how.

A chunk of the batch is processed at once: the neighbour pairs of every image,
distance and direction become integer cell codes in the smallest unsigned type,
one row per matrix, counted in one pass by the cheapest of ``np.bincount`` over
a table of every cell (few grey levels or large images; ordered pairs, the
table made symmetric afterwards), a row-wise radix sort of 16-bit codes (8-bit
levels) or NumPy's sort (more levels), chosen per chunk by a measured cost
model (:func:`_counting_method`). With numba installed (the ``fast`` extra), a
compiled kernel counts each matrix in a table instead
(``_glcm_kernels.glcm_cells``), with the same cells; ``SKBREASTCAD_NUMBA=0``
forces the NumPy code.
"""

import math
import sys

import numpy as np
from joblib import effective_n_jobs

from ..utils._numba import ENV_VAR, use_numba

# Pixel pairs per chunk: enough to amortise NumPy's per-call cost over many
# matrices, few enough that a chunk's codes stay in cache.
_PAIR_BUDGET = 1 << 20
# Sorting and the per-cell feature arithmetic want a chunk's cells in the L2 cache.
_PAIR_BUDGET_SORT = 1 << 18
# Cost model of the counting (_counting_method), in ns on one core, measured
# with NumPy 2.4 on an AMD EPYC: np.bincount per pair and per table cell
# (allocation, zeroing and the scan for non-zero cells), a row-wise radix sort
# of 16-bit codes and NumPy's default sort of 32-bit codes, per pair.
_BINCOUNT_NS, _TABLE_CELL_NS, _RADIX_NS, _SORT_NS = 2.5, 4.0, 8.0, 16.0
# Table cells per block of matrices made symmetric at once.
_TABLE_BUDGET = 1 << 17
# Pixel pairs coded and counted at once by np.bincount: their intp codes stay
# in the L2 cache.
_PIECE_PAIRS = 1 << 15
# Elements of the per-matrix distributions (2 * N_g per matrix) per chunk.
_DENSE_BUDGET = 1 << 22
# Largest bits of the levels that the numba kernels count (in a dense table of
# 4**bits cells; more levels are sorted by NumPy), and whose features they
# compute (from dense distributions of 2**bits entries).
_KERNEL_TABLE_BITS = 10
_KERNEL_FEATURE_BITS = 8
_NO_ROI = np.ones((1, 1, 1), dtype=bool)


def _chunk_plan(shape, offsets, n_levels, merged, n_images, n_jobs):
    """How one transform is cut: offset blocks and images per chunk.

    ``n_levels`` is the largest number of grey levels an image may have. Each
    chunk holds the pairs of one block of offsets (``(d, a0, a1)``, see
    :func:`_offset_blocks`) for ``chunk`` images: within the pair budget of
    the chunk's counting method, the dense budget of the per-matrix
    distributions, and at least one chunk per ``n_jobs`` worker.

    Returns
    -------
    blocks : list of tuple of (int, int, int)
    chunk : int
    """
    height, width = shape
    n_dist, n_ang = offsets.shape[:2]
    n_levels = 1 << max(1, (n_levels - 1).bit_length())
    groups_per_image = n_dist if merged else n_dist * n_ang
    pairs = np.array(
        [[max(height - abs(dr), 0) * max(width - abs(dc), 0) for dr, dc in row] for row in offsets]
    )
    bits = max(1, (n_levels - 1).bit_length())
    per_group = pairs.sum() / groups_per_image
    budget = _PAIR_BUDGET if _counting_method(bits, per_group) == "bincount" else _PAIR_BUDGET_SORT
    blocks = _offset_blocks(pairs, budget, merged)
    block_pairs = max(pairs[d, a0:a1].sum() for d, a0, a1 in blocks)
    chunk = min(budget // max(block_pairs, 1), _DENSE_BUDGET // (groups_per_image * 2 * n_levels))
    n_workers = effective_n_jobs(n_jobs)
    if n_workers > 1:
        chunk = min(chunk, math.ceil(n_images / n_workers))
    return blocks, max(chunk, 1)


def _offset_blocks(pairs, budget, merged):
    """Split the (distance, angle) offsets into ``(d, a0, a1)`` blocks of at most
    ``budget`` pixel pairs per image (one offset, or one merged distance, at least),
    keeping the output order."""
    n_dist, n_ang = pairs.shape
    blocks, total = [], budget + 1
    for d in range(n_dist):
        spans = [(0, n_ang)] if merged else [(a, a + 1) for a in range(n_ang)]
        for a0, a1 in spans:
            size = pairs[d, a0:a1].sum()
            if blocks and blocks[-1][0] == d and blocks[-1][2] == a0 and total + size <= budget:
                blocks[-1] = (d, blocks[-1][1], a1)
                total += size
            else:
                blocks.append((d, a0, a1))
                total = size
    return blocks


def _counting_method(bits, pairs_per_group):
    """``"bincount"``, ``"radix"`` or ``"sort"``: the cheapest way to count the cells.

    A table of ``4**bits`` cells per matrix costs its allocation and the scan
    for non-zero cells even where no pair falls; sorting costs per pair only.
    """
    sort_ns = _RADIX_NS if bits <= 8 else _SORT_NS
    table_ns = _BINCOUNT_NS * pairs_per_group + _TABLE_CELL_NS * (1 << (2 * bits))
    if table_ns <= sort_ns * pairs_per_group:
        return "bincount"
    return "radix" if bits <= 8 else "sort"


def _slots(shape, offsets, merged):
    """Where each offset's pairs go: ``(dr, dc, h, w, group, start)`` per offset
    with pairs (``h x w`` first pixels, from ``start`` in its group's row of
    codes), and the pairs of each group of an image."""
    height, width = shape
    n_dist, n_ang = offsets.shape[:2]
    slots, row_len = [], [0] * (n_dist if merged else n_dist * n_ang)
    for d in range(n_dist):
        for a in range(n_ang):
            dr, dc = (int(v) for v in offsets[d, a])
            h, w = height - abs(dr), width - abs(dc)
            if h <= 0 or w <= 0:
                continue
            g = d if merged else d * n_ang + a
            slots.append((dr, dc, h, w, g, row_len[g]))
            row_len[g] += h * w
    return slots, row_len


def _cells(levels, roi, offsets, merged, numba=None):
    """Distinct cells of every group's co-occurrence matrix, with their counts.

    A group is one matrix: ``image * per_image + distance * n_angles + angle``,
    or ``image * per_image + distance`` when ``merged``. Each unordered
    neighbour pair is one count of its upper-triangle cell ``(lo, hi)``,
    ``lo <= hi``; the symmetric matrix holds it in both orders, so it is
    derived, never counted twice.

    The pairs of the whole chunk become cell codes ``lo << bits | hi`` in the
    smallest unsigned type, one row per matrix, counted in one pass: by
    ``np.bincount`` over a table of all cells when the matrices are small next
    to their pairs (few grey levels, large images), otherwise by a row-wise
    sort (a radix sort for 16-bit codes) and run lengths.

    Returns
    -------
    base : ndarray of int64, shape (n_cells,)
        ``group << bits`` of each cell's group; groups ascend.
    first_cell : ndarray of int, shape (n_groups + 1,)
        Group ``g`` owns cells ``first_cell[g]:first_cell[g + 1]``.
    cell : ndarray of int64, shape (n_cells,)
        ``lo << bits | hi``.
    count : ndarray of int64, shape (n_cells,)
        Pairs in the cell; 0 for padding cells, which callers may ignore.
    bits : int
        ``lo`` and ``hi`` are below ``2**bits``.
    n_groups : int

    With numba (``numba=True``, or ``None`` and :func:`use_numba`), a compiled
    kernel counts each matrix in a table of its cells and returns the same
    cells in the same order, without cells of count 0.
    """
    n_images, height, width = levels.shape
    slots, row_len = _slots(levels.shape[1:], offsets, merged)
    per_image = len(row_len)
    n_groups = n_images * per_image
    bits = max(1, int(levels.max(initial=0)).bit_length())
    n_slots = max(row_len)
    if n_slots == 0:  # every offset is larger than the images
        nothing = np.zeros(0, dtype=np.int64)
        return nothing, np.zeros(n_groups + 1, dtype=np.int64), nothing, nothing, bits, n_groups
    if (use_numba() if numba is None else numba) and bits <= _KERNEL_TABLE_BITS:
        from . import _glcm_kernels

        first_cell, cell, count = _glcm_kernels.glcm_cells(
            *_kernel_arguments(levels, roi, slots, bits), per_image, bits
        )
        base = np.repeat(np.arange(n_groups, dtype=np.int64) << bits, np.diff(first_cell))
        return base, first_cell, cell, count, bits, n_groups
    method = _counting_method(bits, n_slots)
    level_type = np.uint8 if bits <= 8 else np.uint16
    cell_type = np.uint16 if 2 * bits <= 16 else np.uint32
    if method == "bincount":
        return _count_by_table(levels, roi, slots, n_images, per_image, bits, n_slots)
    work = levels.astype(level_type, copy=False)
    # 8-bit levels: the code lo << 8 | hi is written as its two bytes.
    interleave = bits <= 8 and sys.byteorder == "little"
    if interleave:
        bits, cell_type = 8, np.uint16
    codes = np.empty((n_images, per_image, n_slots), dtype=cell_type)
    # The padding code sorts last; with 8- or 16-bit levels it is also the
    # top cell (2**bits - 1, 2**bits - 1), so padding is subtracted below.
    pad = np.iinfo(cell_type).max
    for g, used in enumerate(row_len):
        codes[:, g, used:] = pad
    inside = np.broadcast_to(np.array(row_len), (n_images, per_image)).copy()
    for dr, dc, h, w, g, start in slots:
        r0, c0 = max(0, -dr), max(0, -dc)
        first = work[:, r0 : r0 + h, c0 : c0 + w]
        second = work[:, r0 + dr : r0 + dr + h, c0 + dc : c0 + dc + w]
        out = codes[:, g, start : start + h * w].reshape(n_images, h, w)
        if interleave:
            halves = out.view(np.uint8).reshape(n_images, h, w, 2)
            np.minimum(first, second, out=halves[..., 1])
            np.maximum(first, second, out=halves[..., 0])
        else:
            code = np.minimum(first, second).astype(cell_type)
            code <<= bits
            code |= np.maximum(first, second)
            out[...] = code
        if roi is not None:
            outside = ~(
                roi[:, r0 : r0 + h, c0 : c0 + w]
                & roi[:, r0 + dr : r0 + dr + h, c0 + dc : c0 + dc + w]
            )
            np.copyto(out, cell_type(pad), where=outside)
            inside[:, g] -= outside.sum(axis=(1, 2))
    codes = codes.reshape(n_groups, n_slots)
    codes.sort(axis=1, kind="stable" if method == "radix" else None)
    new_run = np.empty(codes.shape, dtype=bool)
    new_run[:, 0] = True
    np.not_equal(codes[:, 1:], codes[:, :-1], out=new_run[:, 1:])
    starts = np.flatnonzero(new_run)
    count = np.diff(starts, append=codes.size)
    cell = codes.ravel()[starts].astype(np.int64)
    first_cell = np.searchsorted(starts, np.arange(n_groups + 1) * n_slots)
    # The last run of a row holds its padding, if any.
    last = first_cell[1:] - 1
    padded = cell[last] == pad
    count[last[padded]] -= n_slots - inside.ravel()[padded]
    base = np.repeat(np.arange(n_groups, dtype=np.int64) << bits, np.diff(first_cell))
    return base, first_cell, cell, count, bits, n_groups


def _kernel_arguments(levels, roi, slots, bits):
    """``levels, roi, has_roi, slots`` as the numba kernels take them."""
    n_pairs = max(h * w for _dr, _dc, h, w, _g, _start in slots) * len(slots)
    if n_pairs >= 2**31:
        raise ValueError(
            f"{n_pairs} pixel pairs in one co-occurrence matrix: more than the compiled "
            f"counting's int32 counts hold; set the environment variable {ENV_VAR}=0."
        )
    # one compiled specialisation per level type: few, and the smallest reads
    work = np.ascontiguousarray(levels, dtype=np.uint8 if bits <= 8 else np.uint16)
    inside = _NO_ROI if roi is None else np.ascontiguousarray(roi, dtype=bool)
    slot_rows = np.array([slot[:5] for slot in slots], dtype=np.int64).reshape(-1, 5)
    return work, inside, roi is not None, slot_rows


def _count_by_table(levels, roi, slots, n_images, per_image, bits, pairs_per_group):
    """``_cells`` by ``np.bincount`` over a table of every cell of every matrix.

    The pairs are coded and counted a cache-sized piece at a time (a few
    images, or a band of rows of one image) and added into the table. Images
    are flat rows of pixels, so the pairs of one offset are one contiguous
    range of first pixels and the same range shifted by ``dr * width + dc``;
    the pairs that wrap around a row end go to an extra cell. When the table is
    small next to the pairs (half of them or less), ordered pairs ``first << bits | second`` are
    counted (one pass per pair; the shift is done once per pixel) and the table
    is made symmetric afterwards; otherwise the unordered ``min << bits | max``.
    """
    height, width = levels.shape[1:]
    n_pixels = height * width
    n_cells = 1 << (2 * bits)
    stride = n_cells + 1  # the last cell of each matrix takes pairs outside the ROI or wrapped
    directed = 2 * n_cells <= pairs_per_group
    work = levels.astype(np.intp, copy=False).reshape(n_images, n_pixels)
    inside_roi = None if roi is None else roi.reshape(n_images, n_pixels)
    table = np.zeros((n_images, per_image, stride), dtype=np.int64)
    piece = max(_PIECE_PAIRS, 4 * stride)
    if n_pixels <= piece:
        step = piece // n_pixels
        pieces = [(i0, min(i0 + step, n_images), 0, height) for i0 in range(0, n_images, step)]
    else:
        rows = max(1, piece // width)
        pieces = [
            (i, i + 1, a, min(a + rows, height))
            for i in range(n_images)
            for a in range(0, height, rows)
        ]
    buffer = np.empty(
        min(n_images, max(1, piece // n_pixels)) * (piece + 2 * width) + n_pixels, dtype=np.intp
    )
    for i0, i1, a, b in pieces:
        m = i1 - i0
        base = (np.arange(m) * stride)[:, None]
        if directed:
            shifted = work[i0:i1, a * width : b * width] << bits
            shifted += base
        for dr, dc, h, w, g, _start in slots:
            r0, c0 = max(0, -dr), max(0, -dc)
            ra, rb = max(a, r0), min(b, r0 + h)
            if ra >= rb:
                continue
            lo = ra * width + c0  # first pixel of the range
            n = (rb - ra - 1) * width + w
            second = work[i0:i1, lo + dr * width + dc : lo + dr * width + dc + n]
            out = buffer[: m * n].reshape(m, n)
            if directed:
                np.add(shifted[:, lo - a * width : lo - a * width + n], second, out=out)
            else:
                first = work[i0:i1, lo : lo + n]
                np.minimum(first, second, out=out)
                out <<= bits
                out |= np.maximum(first, second)
                out += base
            if w < width:  # pairs whose second pixel wrapped to the next row
                out[:, : (rb - ra - 1) * width].reshape(m, rb - ra - 1, width)[:, :, w:] = (
                    base[:, :, None] + n_cells
                )
            if inside_roi is not None:
                outside = ~(
                    inside_roi[i0:i1, lo : lo + n]
                    & inside_roi[i0:i1, lo + dr * width + dc : lo + dr * width + dc + n]
                )
                np.copyto(out, base + n_cells, where=outside)
            table[i0:i1, g] += np.bincount(out.ravel(), minlength=m * stride).reshape(m, stride)
    n_groups = n_images * per_image
    side = 1 << bits
    upper = np.triu(np.ones((side, side), dtype=bool)).ravel()
    table = table.reshape(n_groups, stride)
    groups, cells, counts = [], [], []
    block = max(1, _TABLE_BUDGET // stride)
    for g0 in range(0, n_groups, block):
        g1 = min(g0 + block, n_groups)
        counted = table[g0:g1, :n_cells]
        if directed:
            # unordered pairs: M+ + M+^T above the diagonal, M+ on it
            ordered = counted.reshape(g1 - g0, side, side)
            counted = ordered + ordered.transpose(0, 2, 1)
            diagonal = np.arange(side)
            counted[:, diagonal, diagonal] = ordered[:, diagonal, diagonal]
            counted = counted.reshape(g1 - g0, n_cells)
        # nonzero() of a boolean array skips zero words; of int64 it is ~5x slower
        where = np.flatnonzero((counted != 0) & upper)
        group = where >> (2 * bits)
        cell = where & (n_cells - 1)
        groups.append(g0 + group)
        cells.append(cell)
        counts.append(counted[group, cell])
    group, cell, count = np.concatenate(groups), np.concatenate(cells), np.concatenate(counts)
    first_cell = np.searchsorted(group, np.arange(n_groups + 1))
    return group << bits, first_cell, cell, count, bits, n_groups
