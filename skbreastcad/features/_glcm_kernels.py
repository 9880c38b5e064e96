"""numba kernels of the GLCM features (the optional ``fast`` backend).

Imported only by the functions that call them (``_glcm_counting._cells`` and
``_glcm_props._glcm_features``), once :func:`skbreastcad.utils._numba.use_numba`
said yes. Every kernel computes what the NumPy code of its caller computes, in
the same order where floating-point sums are involved, and is compiled with
``cache=True`` (the machine code is kept in ``__pycache__``, so only the first
call on a machine pays the compilation) and ``nogil=True`` (the ``n_jobs``
threads run in parallel). ``error_model="numpy"`` makes a float division by
zero give inf/NaN, as in NumPy, instead of raising.
"""

import math

import numpy as np

from ._jit import njit

_LN2 = math.log(2.0)
_JIT = dict(cache=True, nogil=True, error_model="numpy")

# -- GLCM: counting ------------------------------------------------------------
# A group whose table has at most this many cells per pixel pair is read back
# by scanning the whole upper triangle; a larger one marks the cells it touches
# in a bitmap and reads back only those (one word test per 64 cells).
_SCAN_CELLS_PER_PAIR = 4
# lowest set bit -> its index, by a de Bruijn sequence (portable, no intrinsic)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_INDEX = np.zeros(64, dtype=np.int64)
for _bit in range(64):
    _DEBRUIJN_INDEX[((1 << _bit) * 0x03F79D71B4CB0A89 % 2**64) >> 58] = _bit


@njit(**_JIT)
def _group_pairs(slots, per_image):
    pairs = np.zeros(per_image, dtype=np.int64)
    for s in range(slots.shape[0]):
        pairs[slots[s, 4]] += slots[s, 2] * slots[s, 3]
    return pairs


@njit(**_JIT)
def _count_group(levels, roi, has_roi, i, slots, g, bits, table, seen, mark):
    """Add the pairs of group ``g`` of image ``i`` to ``table`` (and mark ``seen``).

    A pair with a pixel outside the ROI goes to the table's last cell, without
    a branch per pair.
    """
    dump = table.shape[0] - 1
    one = np.uint64(1)
    for s in range(slots.shape[0]):
        if slots[s, 4] != g:
            continue
        dr, dc, h, w = slots[s, 0], slots[s, 1], slots[s, 2], slots[s, 3]
        r0, c0 = max(0, -dr), max(0, -dc)
        for r in range(r0, r0 + h):
            row = levels[i, r, c0 : c0 + w]
            row2 = levels[i, r + dr, c0 + dc : c0 + dc + w]
            inside = roi[i if has_roi else 0, r if has_roi else 0]
            inside2 = roi[i if has_roi else 0, r + dr if has_roi else 0]
            for c in range(w):
                a = np.int64(row[c])
                b = np.int64(row2[c])
                k = (min(a, b) << bits) | max(a, b)
                if has_roi:
                    k = k if inside[c0 + c] & inside2[c0 + dc + c] else dump
                table[k] += 1
                if mark:
                    seen[k >> 6] |= one << np.uint64(k & 63)


@njit(**_JIT)
def _read_cells(table, seen, scan, bits, cell, count, out):
    """Move the non-zero upper-triangle cells of ``table`` to ``cell[out:]`` and
    ``count[out:]`` in ascending code ``lo << bits | hi`` (the table's index),
    leaving ``table`` and ``seen`` zero; returns the new ``out``."""
    side = 1 << bits
    n_cells = side * side
    table[n_cells] = 0  # pairs outside the ROI
    if scan:  # row lo, columns hi >= lo
        for lo in range(side):
            for k in range(lo * side + lo, lo * side + side):
                if table[k] != 0:
                    cell[out] = k
                    count[out] = table[k]
                    table[k] = 0
                    out += 1
        return out
    zero = np.uint64(0)
    for word in range(seen.shape[0]):
        bitset = seen[word]
        if bitset == zero:
            continue
        seen[word] = zero
        while bitset != zero:
            low = bitset & (~bitset + np.uint64(1))
            k = word * 64 + _DEBRUIJN_INDEX[(low * _DEBRUIJN) >> np.uint64(58)]
            bitset ^= low
            if k != n_cells:
                cell[out] = k
                count[out] = table[k]
                table[k] = 0
                out += 1
    return out


@njit(**_JIT)
def glcm_cells(levels, roi, has_roi, slots, per_image, bits):
    """Non-zero upper-triangle cells of every group's co-occurrence matrix.

    ``slots`` holds one row ``(dr, dc, h, w, g)`` per offset: the pairs of
    ``(r, c)`` and ``(r + dr, c + dc)`` for ``r`` in ``r0..r0 + h`` and ``c`` in
    ``c0..c0 + w`` (``r0 = max(0, -dr)``, ``c0 = max(0, -dc)``) count in group
    ``g`` of each image. With ``has_roi``, a pair counts if ``roi`` holds both
    pixels (``roi`` is a dummy otherwise). ``bits <= TABLE_BITS``. Each group's
    cells come out in ascending code ``lo << bits | hi`` (``lo <= hi``), as the
    NumPy counting gives them.

    Returns ``(first_cell, cell, count)`` of ``_glcm_counting._cells``, without cells
    of count 0.
    """
    n_images = levels.shape[0]
    side = 1 << bits
    n_cells = side * side
    group_pairs = _group_pairs(slots, per_image)
    capacity = 0
    for g in range(per_image):
        capacity += min(group_pairs[g], side * (side + 1) // 2)
    n_groups = n_images * per_image
    cell = np.empty(capacity * n_images, dtype=np.int64)
    count = np.empty(capacity * n_images, dtype=np.int64)
    first_cell = np.empty(n_groups + 1, dtype=np.int64)
    table = np.zeros(n_cells + 1, dtype=np.int32)
    seen = np.zeros(n_cells // 64 + 1, dtype=np.uint64)  # + the dump cell's word
    out = 0
    for i in range(n_images):
        for g in range(per_image):
            first_cell[i * per_image + g] = out
            scan = n_cells <= _SCAN_CELLS_PER_PAIR * group_pairs[g]
            _count_group(levels, roi, has_roi, i, slots, g, bits, table, seen, not scan)
            out = _read_cells(table, seen, scan, bits, cell, count, out)
    first_cell[n_groups] = out
    return first_cell, cell[:out], count[:out]


# -- GLCM: features ------------------------------------------------------------
# Columns of the output, in GLCM_FEATURE_NAMES order (checked by the tests).
(
    _JOINT_MAXIMUM,
    _JOINT_AVERAGE,
    _JOINT_VARIANCE,
    _JOINT_ENTROPY,
    _DIFFERENCE_AVERAGE,
    _DIFFERENCE_VARIANCE,
    _DIFFERENCE_ENTROPY,
    _SUM_AVERAGE,
    _SUM_VARIANCE,
    _SUM_ENTROPY,
    _ANGULAR_SECOND_MOMENT,
    _CONTRAST,
    _DISSIMILARITY,
    _INVERSE_DIFFERENCE,
    _NORMALISED_INVERSE_DIFFERENCE,
    _INVERSE_DIFFERENCE_MOMENT,
    _NORMALISED_INVERSE_DIFFERENCE_MOMENT,
    _INVERSE_VARIANCE,
    _CORRELATION,
    _AUTOCORRELATION,
    _CLUSTER_TENDENCY,
    _CLUSTER_SHADE,
    _CLUSTER_PROMINENCE,
    _INFORMATION_CORRELATION_1,
    _INFORMATION_CORRELATION_2,
) = range(25)
N_FEATURES = 25
# Counts below this have c * log2(c) kept in a table filled on first use.
_XLOG_TABLE = 1 << 16


@njit(**_JIT)
def glcm_features(levels, roi, has_roi, slots, per_image, bits, n_g, need_cells):
    """The 25 features of every group's matrix: ``(n_images * per_image, 25)``.

    Counts each matrix as :func:`glcm_cells` does, then evaluates the formulas
    of ``_glcm_props._glcm_features`` on its cells, each sum taken over the non-zero
    entries of the difference, sum and marginal distributions (or over the
    cells) in ascending order, as ``np.bincount`` takes them there; the
    results differ from NumPy's in the last bits only (``log2``, and the cell
    sums, which NumPy adds pairwise). ``n_g`` is ``N_g`` of each image. Meant
    for small tables (``bits <= 8``): the distributions are dense arrays of
    ``2**bits`` entries.
    """
    n_images = levels.shape[0]
    side = 1 << bits
    n_cells = side * side
    group_pairs = _group_pairs(slots, per_image)
    n_groups = n_images * per_image
    out = np.empty((n_groups, N_FEATURES))
    most = 0
    for g in range(per_image):
        most = max(most, group_pairs[g])
    table = np.zeros(n_cells + 1, dtype=np.int32)
    seen = np.zeros(n_cells // 64 + 1, dtype=np.uint64)
    cell = np.empty(side * (side + 1) // 2, dtype=np.int64)
    count = np.empty_like(cell)
    c_d = np.zeros(side)  # pair counts by |i - j|
    c_s = np.zeros(2 * side)  # by i + j (0-based levels)
    c_m = np.zeros(side)  # marginal, each pair counted for both of its levels
    xlog = np.full(min(most + 1, _XLOG_TABLE), -1.0)
    for i in range(n_images):
        for g in range(per_image):
            scan = n_cells <= _SCAN_CELLS_PER_PAIR * group_pairs[g]
            _count_group(levels, roi, has_roi, i, slots, g, bits, table, seen, not scan)
            n = _read_cells(table, seen, scan, bits, cell, count, 0)
            _matrix_features(
                out[i * per_image + g],
                cell,
                count,
                n,
                bits,
                n_g[i],
                need_cells,
                c_d,
                c_s,
                c_m,
                xlog,
            )
    return out


@njit(**_JIT)
def _xlog2x(c, xlog):
    # scipy.special.xlogy(c, c) / ln 2, as _glcm_props._xlog2x
    if c < xlog.shape[0]:
        if xlog[c] < 0.0:
            x = float(c)
            xlog[c] = x * np.log(x) / _LN2
        return xlog[c]
    x = float(c)
    return x * np.log(x) / _LN2


@njit(**_JIT)
def _matrix_features(f, cell, count, n, bits, ng, need_cells, c_d, c_s, c_m, xlog):
    """Write the 25 features of one matrix, given by its ``n`` cells, into ``f``.

    ``c_d``, ``c_s`` and ``c_m`` are zero work arrays, left zero.
    """
    side = 1 << bits
    mask = side - 1
    n_pairs = 0
    for t in range(n):
        c = count[t]
        lo = cell[t] >> bits
        hi = cell[t] & mask
        n_pairs += c
        weight = float(c)
        c_d[hi - lo] += weight
        c_s[lo + hi] += weight
        c_m[lo] += weight
        c_m[hi] += weight
    if n_pairs == 0:
        f[:] = np.nan
        return
    norm = float(n_pairs)
    # marginal: mean, then variance and entropy
    mu = 0.0
    for v in range(side):
        if c_m[v] != 0.0:
            mu += c_m[v] / (2.0 * norm) * (v + 1.0)
    variance = 0.0
    hx = 0.0
    n_levels = 0
    for v in range(side):
        if c_m[v] != 0.0:
            p = c_m[v] / (2.0 * norm)
            x = v + 1.0 - mu
            variance += p * (x * x)
            hx += p * np.log2(p)
            n_levels += 1
            c_m[v] = 0.0
    hx = -hx
    single_level = n_levels == 1
    # difference distribution
    diff_average = 0.0
    contrast = 0.0
    for v in range(side):
        if c_d[v] != 0.0:
            p = c_d[v] / norm
            diff_average += p * v
            contrast += p * v * v
    diff_variance = 0.0
    diff_entropy = 0.0
    inv_diff = 0.0
    norm_inv_diff = 0.0
    idm = 0.0
    norm_idm = 0.0
    inv_variance = 0.0
    diagonal = 0.0
    for v in range(side):
        if c_d[v] != 0.0:
            p = c_d[v] / norm
            k = float(v)
            x = k - diff_average
            diff_variance += p * (x * x)
            diff_entropy += p * np.log2(p)
            inv_diff += p / (1 + k)
            norm_inv_diff += p / (1 + k / ng)
            idm += p / (1 + k * k)
            norm_idm += p / (1 + (k * k) / (ng * ng))
            if v > 0:
                inv_variance += p / (k * k)
            else:
                diagonal = p
            c_d[v] = 0.0
    # sum distribution
    sum_average = 0.0
    for v in range(2 * side - 1):
        if c_s[v] != 0.0:
            sum_average += c_s[v] / norm * (v + 2.0)
    sum_variance = 0.0
    sum_entropy = 0.0
    tendency = 0.0
    shade = 0.0
    prominence = 0.0
    for v in range(2 * side - 1):
        if c_s[v] != 0.0:
            p = c_s[v] / norm
            s = v + 2.0
            x = s - sum_average
            sum_variance += p * (x * x)
            sum_entropy += p * np.log2(p)
            t = s - 2 * mu
            t2 = t * t
            tendency += p * t2
            shade += p * t2 * t
            prominence += p * t2 * t2
            c_s[v] = 0.0
    f[_JOINT_AVERAGE] = mu
    f[_JOINT_VARIANCE] = variance
    f[_DIFFERENCE_AVERAGE] = diff_average
    f[_DIFFERENCE_VARIANCE] = diff_variance
    f[_DIFFERENCE_ENTROPY] = -diff_entropy
    f[_CONTRAST] = contrast
    f[_DISSIMILARITY] = diff_average
    f[_INVERSE_DIFFERENCE] = inv_diff
    f[_NORMALISED_INVERSE_DIFFERENCE] = norm_inv_diff
    f[_INVERSE_DIFFERENCE_MOMENT] = idm
    f[_NORMALISED_INVERSE_DIFFERENCE_MOMENT] = norm_idm
    f[_INVERSE_VARIANCE] = inv_variance
    f[_SUM_AVERAGE] = sum_average
    f[_SUM_VARIANCE] = sum_variance
    f[_SUM_ENTROPY] = -sum_entropy
    f[_CLUSTER_TENDENCY] = tendency
    f[_CLUSTER_SHADE] = shade
    f[_CLUSTER_PROMINENCE] = prominence
    # one grey level: correlation and IMC1 are 0/0 (see _glcm_props._glcm_features)
    f[_CORRELATION] = 1.0 if single_level else (tendency - contrast) / (tendency + contrast)
    f[_AUTOCORRELATION] = (tendency - contrast) / 4 + mu * mu
    if not need_cells:
        f[_JOINT_MAXIMUM] = 0.0
        f[_JOINT_ENTROPY] = 0.0
        f[_ANGULAR_SECOND_MOMENT] = 0.0
        f[_INFORMATION_CORRELATION_1] = 0.0
        f[_INFORMATION_CORRELATION_2] = 0.0
        return
    # An off-diagonal cell stands for two matrix entries of count c, a
    # diagonal one for one entry of count 2c (out of 2 * n_pairs).
    peak = 0
    square = 0
    c_log_c = 0.0
    for t in range(n):
        c = np.int64(count[t])
        entry = 2 * c if (cell[t] >> bits) == (cell[t] & mask) else c
        peak = max(peak, entry)
        square += entry * c
        c_log_c += _xlog2x(c, xlog)
    f[_JOINT_MAXIMUM] = peak / (2 * norm)
    f[_ANGULAR_SECOND_MOMENT] = square / (2 * (norm * norm))
    entropy = 0.0
    if not single_level:
        entropy = max(np.log2(norm) - c_log_c / norm + (1 - diagonal), 0.0)
    f[_JOINT_ENTROPY] = entropy
    hxy1 = 2 * hx
    if single_level:
        f[_INFORMATION_CORRELATION_1] = 0.0
        f[_INFORMATION_CORRELATION_2] = 0.0
    else:
        f[_INFORMATION_CORRELATION_1] = (entropy - hxy1) / hx
        f[_INFORMATION_CORRELATION_2] = math.sqrt(max(1 - math.exp(-2 * (hxy1 - entropy)), 0.0))
