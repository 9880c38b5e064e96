"""numba kernels of the texture features (the optional ``fast`` backend).

Imported only by the functions that call them, once
:func:`skbreastcad.utils._numba.use_numba` said yes; importing this module
imports numba. Every kernel computes what the NumPy code next to its caller
computes, in the same order where floating-point sums are involved, and is
compiled with ``cache=True`` (the machine code is kept in ``__pycache__``, so
only the first call on a machine pays the compilation) and ``nogil=True`` (the
``n_jobs`` threads run in parallel). ``error_model="numpy"`` makes a float
division by zero give inf/NaN, as in NumPy, instead of raising.
"""

import math

import numpy as np
from numba import njit

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

    Returns ``(first_cell, cell, count)`` of ``_glcm._cells``, without cells
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
    of ``_glcm._glcm_features`` on its cells, each sum taken over the non-zero
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
    # scipy.special.xlogy(c, c) / ln 2, as _glcm._xlog2x
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
    # one grey level: correlation and IMC1 are 0/0 (see _glcm._glcm_features)
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


# -- Gabor: direct separable filtering, magnitudes and their sums ------------------
# The spatial path of the NumPy code multiplies band matrices, whose tiles also
# multiply zeros (up to 4x the work of a 9-tap kernel). These kernels filter
# directly instead, and fold each 1-D filter: the real part of a Gabor factor
# is symmetric and the imaginary part antisymmetric, so taps k and 2r - k share
# one coefficient (one add, one multiply-add), and the real and imaginary parts
# of a complex factor are taken from one load of the inputs. Every x-loop reads
# contiguous slices (LLVM vectorises them; an index with an offset would not
# be) and runs over a long row: the rows of all images of the chunk side by
# side in the column pass, a block of reflect-padded rows in the row pass.
# "contract" lets LLVM fuse multiply and add (results differ from the band
# matrices' in the last bits); "reassoc" (the sums only) keeps several partial
# sums per reduction, in vector lanes.
_JIT_FILTER = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
_JIT_SUMS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
# Outputs per row-pass block: four blocks of accumulators stay in L1.
_GABOR_BLOCK = 1024
# Which responses a group has (a = Re A X Re B, b = Re A X Im B, c = Im A X Re B,
# d = Im A X Im B): both factors real, A real, B real, neither.
GABOR_REAL, GABOR_A_REAL, GABOR_B_REAL, GABOR_COMPLEX = range(4)


@njit(**_JIT_FILTER)
def _reflect_map(r, n):
    """``m[p]``: the pixel that padded position ``p`` (of ``n + 2 r``) reads, with
    ``scipy.ndimage``'s 'reflect' boundary repeated for any overhang."""
    m = np.empty(n + 2 * r, dtype=np.int64)
    for p in range(n + 2 * r):
        i = (p - r) % (2 * n)
        m[p] = 2 * n - 1 - i if i >= n else i
    return m


@njit(**_JIT_FILTER)
def _four_pairs(rows, offsets, k, r, n_out):
    """The inputs of taps ``k..k+3`` and ``2r-k..2r-k-3`` (their mirror partners)."""
    o0, o1, o2, o3 = offsets[k], offsets[k + 1], offsets[k + 2], offsets[k + 3]
    q0, q1 = offsets[2 * r - k], offsets[2 * r - k - 1]
    q2, q3 = offsets[2 * r - k - 2], offsets[2 * r - k - 3]
    return (
        rows[o0 : o0 + n_out],
        rows[o1 : o1 + n_out],
        rows[o2 : o2 + n_out],
        rows[o3 : o3 + n_out],
        rows[q0 : q0 + n_out],
        rows[q1 : q1 + n_out],
        rows[q2 : q2 + n_out],
        rows[q3 : q3 + n_out],
    )


@njit(**_JIT_FILTER)
def _fold(out, rows, offsets, w):
    """``out[x] = sum_k w[k] rows[offsets[k] + x]`` for a symmetric ``w`` of ``2 r + 1``
    weights: taps ``k`` and ``2 r - k`` are added before their one multiply."""
    n_out = out.shape[0]
    r = w.shape[0] // 2
    c = rows[offsets[r] : offsets[r] + n_out]
    w0 = w[r]
    for x in range(n_out):
        out[x] = w0 * c[x]
    k = 0
    while k + 4 <= r:
        r0, r1, r2, r3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        p0, p1, p2, p3, m0, m1, m2, m3 = _four_pairs(rows, offsets, k, r, n_out)
        for x in range(n_out):
            out[x] += (r0 * (p0[x] + m0[x]) + r1 * (p1[x] + m1[x])) + (
                r2 * (p2[x] + m2[x]) + r3 * (p3[x] + m3[x])
            )
        k += 4
    while k < r:
        o0, q0 = offsets[k], offsets[2 * r - k]
        p0, m0 = rows[o0 : o0 + n_out], rows[q0 : q0 + n_out]
        r0 = w[k]
        for x in range(n_out):
            out[x] += r0 * (p0[x] + m0[x])
        k += 1


@njit(**_JIT_FILTER)
def _fold2(out_re, out_im, rows, offsets, w_re, w_im):
    """:func:`_fold` for a complex filter: its symmetric real part ``w_re`` to
    ``out_re`` and its antisymmetric imaginary part ``w_im`` to ``out_im``, from
    one load of each input (the values are read into locals before either store,
    which LLVM would otherwise have to assume may overwrite them)."""
    n_out = out_re.shape[0]
    r = w_re.shape[0] // 2
    c = rows[offsets[r] : offsets[r] + n_out]
    w0 = w_re[r]
    for x in range(n_out):
        out_re[x] = w0 * c[x]
        out_im[x] = 0.0
    k = 0
    while k + 4 <= r:
        r0, r1, r2, r3 = w_re[k], w_re[k + 1], w_re[k + 2], w_re[k + 3]
        i0, i1, i2, i3 = w_im[k], w_im[k + 1], w_im[k + 2], w_im[k + 3]
        p0, p1, p2, p3, m0, m1, m2, m3 = _four_pairs(rows, offsets, k, r, n_out)
        for x in range(n_out):
            a0, a1, a2, a3 = p0[x], p1[x], p2[x], p3[x]
            b0, b1, b2, b3 = m0[x], m1[x], m2[x], m3[x]
            u = (r0 * (a0 + b0) + r1 * (a1 + b1)) + (r2 * (a2 + b2) + r3 * (a3 + b3))
            v = (i0 * (a0 - b0) + i1 * (a1 - b1)) + (i2 * (a2 - b2) + i3 * (a3 - b3))
            out_re[x] += u
            out_im[x] += v
        k += 4
    while k < r:
        o0, q0 = offsets[k], offsets[2 * r - k]
        p0, m0 = rows[o0 : o0 + n_out], rows[q0 : q0 + n_out]
        r0, i0 = w_re[k], w_im[k]
        for x in range(n_out):
            a0, b0 = p0[x], m0[x]
            u = r0 * (a0 + b0)
            v = i0 * (a0 - b0)
            out_re[x] += u
            out_im[x] += v
        k += 1


@njit(**_JIT_SUMS)
def _row_sums(
    ra, rb, rc, rd, case, first, n_rows, padded, width, n, weights, has_weights, c0, c1, sums
):
    """Add the magnitude sums of ``n_rows`` filtered rows (row ``first + s`` of the
    chunk is image ``(first + s) % n``, at ``s * padded`` in the buffers)."""
    for s in range(n_rows):
        row = first + s
        y = row // n
        image = row % n
        o = s * padded
        a = ra[o : o + width]
        b = rb[o : o + width]
        c = rc[o : o + width]
        d = rd[o : o + width]
        w = weights[y if has_weights else 0, image if has_weights else 0]
        s0 = 0.0
        s1 = 0.0
        u0 = 0.0
        u1 = 0.0
        if case == GABOR_REAL:
            for x in range(width):
                m = abs(a[x])
                if has_weights:
                    m *= w[x]
                s0 += m
                s1 += m * m
            u0, u1 = s0, s1
        elif case == GABOR_A_REAL or case == GABOR_B_REAL:
            # A real: theta and pi - theta have the same magnitude
            im = b if case == GABOR_A_REAL else c
            for x in range(width):
                m = math.sqrt(a[x] * a[x] + im[x] * im[x])
                if has_weights:
                    m *= w[x]
                s0 += m
                s1 += m * m
            u0, u1 = s0, s1
        else:
            for x in range(width):
                re = a[x] - d[x]  # A X B = (a - d) + i (b + c)
                im = b[x] + c[x]
                re2 = a[x] + d[x]  # A X conj(B) = (a + d) + i (c - b)
                im2 = c[x] - b[x]
                m = math.sqrt(re * re + im * im)
                m2 = math.sqrt(re2 * re2 + im2 * im2)
                if has_weights:
                    m *= w[x]
                    m2 *= w[x]
                s0 += m
                s1 += m * m
                u0 += m2
                u1 += m2 * m2
        sums[c0, 0, image] += s0
        sums[c0, 1, image] += s1
        if c1 >= 0:
            sums[c1, 0, image] += u0
            sums[c1, 1, image] += u1


@njit(**_JIT_FILTER)
def gabor_sums(
    X,
    stride,
    n,
    width,
    a_taps,
    a_offsets,
    b_taps,
    b_offsets,
    cases,
    columns,
    weights,
    has_weights,
    sums,
):
    """Add each kernel's per-image sums of response magnitudes (and squares) to ``sums``.

    ``X`` holds the chunk's rows ``y`` (each the ``n`` images' rows side by side,
    ``n * width`` values) ``stride`` apart (a multiple of 4 KiB would make the
    column pass's rows evict each other from L1). Group ``g`` has the
    correlation weights ``[Re, Im]`` of its column factor in
    ``a_taps[a_offsets[g]:a_offsets[g + 1]]`` and of its row factor in
    ``b_taps``, its ``case`` (which factors are real) and its output
    ``columns[g]`` (``A X B``, and ``A X conj(B)`` or -1). ``sums[column, 0,
    image]`` gets the sum of the magnitudes (times ``weights[y, image]`` with
    ``has_weights``) and ``sums[column, 1, image]`` that of their squares.
    """
    height = X.shape[0] // stride
    n_rows = height * n
    r_max = 0
    for g in range(cases.shape[0]):
        r_max = max(r_max, (b_offsets[g + 1] - b_offsets[g]) // 4)
    # column-filtered rows, each reflect-padded for the row pass
    cre = np.empty(n_rows * (width + 2 * r_max))
    cim = np.empty_like(cre)
    row_re = np.empty(n * width)
    row_im = np.empty(n * width)
    n_a_max = 0
    for g in range(cases.shape[0]):
        n_a_max = max(n_a_max, (a_offsets[g + 1] - a_offsets[g]) // 2)
    row_offsets = np.empty(n_a_max, dtype=np.int64)
    shifts = np.empty(2 * r_max + 1, dtype=np.int64)
    ra = np.empty(_GABOR_BLOCK + width + 2 * r_max)
    rb = np.empty_like(ra)
    rc = np.empty_like(ra)
    rd = np.empty_like(ra)
    for g in range(cases.shape[0]):
        n_a = (a_offsets[g + 1] - a_offsets[g]) // 2
        n_b = (b_offsets[g + 1] - b_offsets[g]) // 2
        a_re = a_taps[a_offsets[g] : a_offsets[g] + n_a]
        a_im = a_taps[a_offsets[g] + n_a : a_offsets[g + 1]]
        b_re = b_taps[b_offsets[g] : b_offsets[g] + n_b]
        b_im = b_taps[b_offsets[g] + n_b : b_offsets[g + 1]]
        case = cases[g]
        a_real = case == GABOR_REAL or case == GABOR_A_REAL
        b_real = case == GABOR_REAL or case == GABOR_B_REAL
        rx = n_b // 2
        padded = width + 2 * rx
        ymap = _reflect_map(n_a // 2, height)
        xmap = _reflect_map(rx, width)
        for y in range(height):
            # the column pass reads rows ymap[y + k]: offsets into the flat chunk
            for k in range(n_a):
                row_offsets[k] = ymap[y + k] * stride
            if a_real:
                _fold(row_re, X, row_offsets, a_re)
            else:
                _fold2(row_re, row_im, X, row_offsets, a_re, a_im)
            for image in range(n):
                o = (y * n + image) * padded
                cre[o + rx : o + rx + width] = row_re[image * width : (image + 1) * width]
                for q in range(rx):
                    cre[o + q] = row_re[image * width + xmap[q]]
                    cre[o + rx + width + q] = row_re[image * width + xmap[rx + width + q]]
                if not a_real:
                    cim[o + rx : o + rx + width] = row_im[image * width : (image + 1) * width]
                    for q in range(rx):
                        cim[o + q] = row_im[image * width + xmap[q]]
                        cim[o + rx + width + q] = row_im[image * width + xmap[rx + width + q]]
        # the row pass runs over blocks of padded rows as one signal; the outputs
        # that straddle two rows are computed and ignored
        per_block = max(1, _GABOR_BLOCK // padded)
        for first in range(0, n_rows, per_block):
            rows = min(per_block, n_rows - first)
            n_out = rows * padded - 2 * rx
            for k in range(n_b):
                shifts[k] = first * padded + k
            if b_real:
                _fold(ra[:n_out], cre, shifts, b_re)
            else:
                _fold2(ra[:n_out], rb[:n_out], cre, shifts, b_re, b_im)
            if not a_real:
                if b_real:
                    _fold(rc[:n_out], cim, shifts, b_re)
                else:
                    _fold2(rc[:n_out], rd[:n_out], cim, shifts, b_re, b_im)
            _row_sums(
                ra,
                rb,
                rc,
                rd,
                case,
                first,
                rows,
                padded,
                width,
                n,
                weights,
                has_weights,
                columns[g, 0],
                columns[g, 1],
                sums,
            )


@njit(**_JIT_SUMS)
def complex_abs_sums(z, weights, has_weights, out):
    """``out[0, i]`` += sum of ``|z[i]| * weights[i]``, ``out[1, i]`` += sum of
    its squares, for ``z`` of shape ``(n, height, width)`` (a view)."""
    n, height, width = z.shape
    for i in range(n):
        s0 = 0.0
        s1 = 0.0
        for y in range(height):
            row = z[i, y]
            w = weights[i if has_weights else 0, y if has_weights else 0]
            for x in range(width):
                v = row[x]
                m = math.sqrt(v.real * v.real + v.imag * v.imag)
                if has_weights:
                    m *= w[x]
                s0 += m
                s1 += m * m
        out[0, i] += s0
        out[1, i] += s1
