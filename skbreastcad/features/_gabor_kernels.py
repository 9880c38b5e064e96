"""numba kernels of the Gabor features (the optional ``fast`` backend).

Imported only by ``_gabor_filter._compiled_sums``, once
:func:`skbreastcad.utils._numba.use_numba` said yes. Every kernel computes what
the NumPy filtering computes, to the last bits (see the fastmath flags below),
and is compiled with ``cache=True`` (the machine code is kept in
``__pycache__``, so only the first call on a machine pays the compilation) and
``nogil=True`` (the ``n_jobs`` threads run in parallel). ``error_model="numpy"``
makes a float division by zero give inf/NaN, as in NumPy, instead of raising.
"""

import math

import numpy as np

from ._jit import njit

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
