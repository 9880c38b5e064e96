"""The 25 IBSI GLCM features, computed from the counted cells in NumPy.

Features are evaluated on the non-zero cells and on the 1-D marginal, sum and
difference distributions, never on dense ``N_g x N_g`` matrices, so 256 or
65536 grey levels cost little more than 32. With numba installed (the ``fast``
extra), a compiled kernel counts each matrix and computes its features in one
pass (``_glcm_kernels.glcm_features``), with the same values;
``SKBREASTCAD_NUMBA=0`` forces the NumPy code.
"""

import math

import numpy as np
from scipy.special import xlogy

from ..utils._numba import use_numba
from ._glcm_counting import _KERNEL_FEATURE_BITS, _cells, _kernel_arguments, _slots

_LN2 = math.log(2.0)

#: The 25 IBSI GLCM features, in the manual's order, with their IBSI codes.
IBSI_CODES = {
    "joint_maximum": "GYBY",
    "joint_average": "60VM",
    "joint_variance": "UR99",
    "joint_entropy": "TU9B",
    "difference_average": "TF7R",
    "difference_variance": "D3YU",
    "difference_entropy": "NTRS",
    "sum_average": "ZGXS",
    "sum_variance": "OEEB",
    "sum_entropy": "P6QZ",
    "angular_second_moment": "8ZQL",
    "contrast": "ACUI",
    "dissimilarity": "8S9J",
    "inverse_difference": "IB1Z",
    "normalised_inverse_difference": "NDRX",
    "inverse_difference_moment": "WF0Z",
    "normalised_inverse_difference_moment": "1QCO",
    "inverse_variance": "E8JP",
    "correlation": "NI2N",
    "autocorrelation": "QWB0",
    "cluster_tendency": "DG8W",
    "cluster_shade": "7NFM",
    "cluster_prominence": "AE86",
    "information_correlation_1": "R8DG",
    "information_correlation_2": "JN9H",
}
GLCM_FEATURE_NAMES = tuple(IBSI_CODES)
"""The 25 IBSI GLCM feature names, in output order."""
_FEATURE_INDEX = {name: i for i, name in enumerate(GLCM_FEATURE_NAMES)}
# Features that need the individual matrix cells; all others follow from the
# marginal, sum and difference distributions, which are much cheaper.
_CELL_FEATURES = frozenset(
    {
        "joint_maximum",
        "joint_entropy",
        "angular_second_moment",
        "information_correlation_1",
        "information_correlation_2",
    }
)


def _nan_mean(values, axis):
    """Mean over ``axis`` ignoring NaN; NaN (no warning) where all are NaN."""
    valid = ~np.isnan(values)
    count = valid.sum(axis=axis)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _glcm_features(levels, roi, offsets, *, merged, n_g, need_cells):
    """All 25 features of every (image, group) matrix: shape (n_images, n_groups, 25).

    ``levels`` are 0-based grey levels; ``n_g`` is IBSI's ``N_g`` of each
    image (used by the normalised inverse differences).
    """
    numba = use_numba()
    if numba:
        slots, row_len = _slots(levels.shape[1:], offsets, merged)
        bits = max(1, int(levels.max(initial=0)).bit_length())
        if bits <= _KERNEL_FEATURE_BITS and max(row_len) > 0:
            from . import _glcm_kernels

            out = _glcm_kernels.glcm_features(
                *_kernel_arguments(levels, roi, slots, bits),
                len(row_len),
                bits,
                np.asarray(n_g, dtype=np.float64),
                need_cells,
            )
            return out.reshape(len(levels), len(row_len), -1)
    base, first_cell, cell, count, bits, n_groups = _cells(levels, roi, offsets, merged, numba)
    per_image = n_groups // len(levels)
    low = (1 << bits) - 1
    lo = (cell >> bits) & low  # the padding cell of 32-bit codes is above every real cell
    base_lo = base + lo
    base_hi = base + (cell & low)
    weight = count.astype(np.float64)  # converted once, not by every np.bincount
    # Non-zero entries of the difference |i-j|, sum i+j and marginal pair-count
    # distributions of each group, whose index is (group << width_bits) + value.
    g_d, k, c_d = _distribution((base_hi - lo,), count, weight, bits, n_groups)
    g_s, s, c_s = _distribution((base_lo + base_hi,), count, weight, bits + 1, n_groups)
    g_m, i, c_m = _distribution((base_lo, base_hi), count, weight, bits, n_groups)
    s += 2  # i + j with 1-based indices
    i += 1

    def group_sum(group, values):
        return np.bincount(group, weights=values, minlength=n_groups)

    n_pairs = group_sum(g_d, c_d)
    empty = n_pairs == 0
    norm = np.where(empty, 1.0, n_pairs)
    p_d = c_d / norm[g_d]  # p_{x-y}(k)
    p_s = c_s / norm[g_s]  # p_{x+y}(k)
    p_m = c_m / (2.0 * norm[g_m])  # p_x(i) = p_y(i)
    n_g = np.repeat(np.asarray(n_g, dtype=np.float64), per_image)
    f = {}

    mu = group_sum(g_m, p_m * i)
    f["joint_average"] = mu
    f["joint_variance"] = group_sum(g_m, p_m * (i - mu[g_m]) ** 2)

    diff_average = group_sum(g_d, p_d * k)
    contrast = group_sum(g_d, p_d * k * k)
    f["difference_average"] = diff_average
    f["difference_variance"] = group_sum(g_d, p_d * (k - diff_average[g_d]) ** 2)
    f["difference_entropy"] = -group_sum(g_d, p_d * np.log2(p_d))
    f["contrast"] = contrast
    f["dissimilarity"] = diff_average
    f["inverse_difference"] = group_sum(g_d, p_d / (1 + k))
    f["normalised_inverse_difference"] = group_sum(g_d, p_d / (1 + k / n_g[g_d]))
    f["inverse_difference_moment"] = group_sum(g_d, p_d / (1 + k * k))
    f["normalised_inverse_difference_moment"] = group_sum(
        g_d, p_d / (1 + (k * k) / (n_g[g_d] ** 2))
    )
    f["inverse_variance"] = group_sum(
        g_d, np.divide(p_d, k * k, out=np.zeros_like(p_d), where=k > 0)
    )

    sum_average = group_sum(g_s, p_s * s)
    f["sum_average"] = sum_average
    f["sum_variance"] = group_sum(g_s, p_s * (s - sum_average[g_s]) ** 2)
    f["sum_entropy"] = -group_sum(g_s, p_s * np.log2(p_s))
    t = s - 2 * mu[g_s]
    t2 = t * t
    cluster_tendency = group_sum(g_s, p_s * t2)
    f["cluster_tendency"] = cluster_tendency
    f["cluster_shade"] = group_sum(g_s, p_s * t2 * t)
    f["cluster_prominence"] = group_sum(g_s, p_s * t2 * t2)

    # One grey level only: variance 0, and correlation / IMC1 are 0/0.
    single_level = np.bincount(g_m, minlength=n_groups) == 1
    # sigma^2 = (tendency + contrast) / 4 and covariance = (tendency - contrast) / 4
    # for a symmetric matrix; this form avoids cancellation against mu^2.
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = (cluster_tendency - contrast) / (cluster_tendency + contrast)
    f["correlation"] = np.where(single_level, 1.0, correlation)
    f["autocorrelation"] = (cluster_tendency - contrast) / 4 + mu * mu

    if need_cells:
        hx = -group_sum(g_m, p_m * np.log2(p_m))
        off_diagonal = 1 - group_sum(g_d, np.where(k == 0, p_d, 0.0))
        # An off-diagonal cell stands for two matrix entries of count c, a
        # diagonal one for one entry of count 2c (out of 2 * n_pairs).
        entry = count.copy()
        entry[base_lo == base_hi] *= 2
        owned = first_cell[1:] > first_cell[:-1]
        starts = first_cell[:-1][owned]
        peak, square, c_log_c = np.zeros((3, n_groups))
        if len(starts):
            peak[owned] = np.maximum.reduceat(entry, starts)
            square[owned] = np.add.reduceat(entry * count, starts)
            c_log_c[owned] = np.add.reduceat(_xlog2x(count), starts)
        f["joint_maximum"] = peak / (2 * norm)
        f["angular_second_moment"] = square / (2 * norm**2)
        # H = log2 n - sum(c log2 c) / n + (fraction of off-diagonal pairs)
        joint_entropy = np.log2(norm) - c_log_c / norm + off_diagonal
        joint_entropy = np.where(single_level, 0.0, np.maximum(joint_entropy, 0.0))
        f["joint_entropy"] = joint_entropy
        hxy1 = 2 * hx  # exact for symmetric matrices, = HXY2
        with np.errstate(invalid="ignore", divide="ignore"):
            imc1 = (joint_entropy - hxy1) / hx
        f["information_correlation_1"] = np.where(single_level, 0.0, imc1)
        # The square root magnifies rounding near 0; a single level is exactly 0.
        imc2 = np.sqrt(np.clip(1 - np.exp(-2 * (hxy1 - joint_entropy)), 0, None))
        f["information_correlation_2"] = np.where(single_level, 0.0, imc2)
    else:
        for name in _CELL_FEATURES:
            f[name] = np.zeros(n_groups)

    out = np.empty((n_groups, len(GLCM_FEATURE_NAMES)))
    for name, index in _FEATURE_INDEX.items():
        out[:, index] = f[name]
    out[empty] = np.nan
    return out.reshape(len(levels), per_image, -1)


def _distribution(indices, count, weight, width_bits, n_groups):
    """Non-zero entries of per-group histograms of integer counts.

    Each array of ``indices`` holds ``(group << width_bits) + value`` of every
    cell, which adds its ``count`` (``weight`` is the same as float64) to that
    entry. Few possible entries are counted densely; otherwise ``(index,
    count)`` pairs are packed into one integer and sorted, so the cost does not
    grow with the number of levels.

    Returns
    -------
    group : ndarray of int64
        Ascending.
    value : ndarray of float64
    total : ndarray of float64
        Sum of ``count`` over the entry; always positive.
    """
    size = n_groups << width_bits
    n_index = sum(len(index) for index in indices)
    if n_index == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    if size <= max(2 * n_index, 1 << 12):
        hist = np.bincount(indices[0], weights=weight, minlength=size)
        for index in indices[1:]:
            hist += np.bincount(index, weights=weight, minlength=size)
        where = np.flatnonzero(hist != 0)
        total = hist[where]
    else:
        # index < 2**31 (chunks are bounded by _DENSE_BUDGET) and count < 2**32
        packed = np.sort(np.concatenate([(index << 32) | count for index in indices]))
        key = packed >> 32
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        total = np.add.reduceat(packed & 0xFFFFFFFF, starts).astype(np.float64)
        where = key[starts]
        keep = total > 0
        where, total = where[keep], total[keep]
    return where >> width_bits, (where & ((1 << width_bits) - 1)).astype(np.float64), total


def _xlog2x(count):
    """``c * log2(c)`` of non-negative integer counts, by table look-up."""
    table = np.arange(int(count.max()) + 1, dtype=np.float64)
    table = xlogy(table, table) / _LN2
    return table[count]
