"""Synthetic breast ROIs: power-law background texture with masses and calcifications."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Interval, InvalidParameterError, StrOptions, validate_params

__all__ = ["make_phantoms"]

LESION_TYPES = ("circumscribed", "spiculated", "calcification")


def _power_law_noise(rng, n, size, beta):
    """``n`` zero-mean, unit-variance fields whose power spectrum falls as ``1/f**beta``."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    beta = np.asarray(beta, dtype=float).reshape(-1, 1, 1)
    amplitude = f[None] ** (-beta / 2.0)
    amplitude[:, 0, 0] = 0.0
    spectrum = rng.standard_normal((n, size, size // 2 + 1)) + 1j * rng.standard_normal(
        (n, size, size // 2 + 1)
    )
    field = np.fft.irfft2(spectrum * amplitude, s=(size, size), axes=(1, 2))
    field -= field.mean(axis=(1, 2), keepdims=True)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-12
    return field


def _grid(size):
    coords = np.arange(size, dtype=float)
    return coords[:, None], coords[None, :]


def _circumscribed(rng, size, rows, cols):
    radius = size * rng.uniform(0.10, 0.22)
    cr, cc = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
    aspect = rng.uniform(0.7, 1.0)
    theta = rng.uniform(0, np.pi)
    dr, dc = rows - cr, cols - cc
    u = dr * np.cos(theta) + dc * np.sin(theta)
    v = (-dr * np.sin(theta) + dc * np.cos(theta)) / aspect
    distance = np.sqrt(u**2 + v**2)
    edge = max(0.6, radius * 0.12)
    # A dense core with a sharp, well-defined margin.
    return 1.0 / (1.0 + np.exp((distance - radius) / edge))


def _spiculated(rng, size, rows, cols):
    radius = size * rng.uniform(0.06, 0.13)
    cr, cc = size / 2 + rng.uniform(-0.10, 0.10, 2) * size
    distance = np.hypot(rows - cr, cols - cc)
    out = 1.0 / (1.0 + np.exp((distance - radius) / max(0.8, radius * 0.25)))
    n_spicules = rng.integers(6, 15)
    angles = rng.uniform(0, 2 * np.pi, n_spicules)
    for angle in angles:
        length = radius * rng.uniform(1.8, 3.5)
        dr, dc = np.sin(angle), np.cos(angle)
        # distance of each pixel to the segment from the centre outwards
        t = np.clip((rows - cr) * dr + (cols - cc) * dc, 0, length)
        d = np.hypot(rows - (cr + t * dr), cols - (cc + t * dc))
        width = rng.uniform(0.5, 1.1)
        fade = 1.0 - 0.8 * t / length
        out = np.maximum(out, 0.8 * fade * np.exp(-0.5 * (d / width) ** 2))
    return out


def _calcifications(rng, size, rows, cols):
    cluster_radius = size * rng.uniform(0.08, 0.18)
    cr, cc = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
    out = np.zeros((size, size))
    for _ in range(rng.integers(5, 13)):
        r = cluster_radius * np.sqrt(rng.uniform())
        a = rng.uniform(0, 2 * np.pi)
        sigma = rng.uniform(0.5, 1.1)
        spot = np.exp(
            -0.5 * ((rows - cr - r * np.sin(a)) ** 2 + (cols - cc - r * np.cos(a)) ** 2) / sigma**2
        )
        out = np.maximum(out, spot * rng.uniform(1.6, 2.6))
    return out


_DRAW = {
    "circumscribed": _circumscribed,
    "spiculated": _spiculated,
    "calcification": _calcifications,
}


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "image_size": [Interval(Integral, 8, None, closed="left")],
        "modality": [StrOptions({"mammography", "mri"})],
        "imbalance_ratio": [Interval(Real, 0, None, closed="left")],
        "lesion_types": [list, tuple],
        "contrast": [Interval(Real, 0, None, closed="left")],
        "n_patients": [Interval(Integral, 1, None, closed="left"), None],
        "return_groups": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_phantoms(
    n_samples=200,
    *,
    image_size=64,
    modality="mammography",
    imbalance_ratio=4.0,
    lesion_types=LESION_TYPES,
    contrast=1.0,
    n_patients=None,
    return_groups=False,
    random_state=None,
):
    """Generate synthetic breast ROIs: tumour (1) and non-tumour (0).

    Every ROI is a patch of power-law background texture, whose power
    spectrum falls as :math:`1/f^\\beta` with :math:`\\beta \\approx 3`, the
    exponent measured on real mammograms [1]_. Positive ROIs add one lesion:
    a circumscribed mass (smooth, well-defined margin), a spiculated mass (a
    small core with thin radiating lines) or a microcalcification cluster
    (5-12 bright sub-millimetre spots). Each simulated patient has her own
    tissue density and texture exponent, shared by all her ROIs, so
    patient-grouped cross-validation matters here as on real data.

    Parameters
    ----------
    n_samples : int, default=200
        Number of ROIs.
    image_size : int, default=64
        Side of the square ROIs in pixels.
    modality : {"mammography", "mri"}, default="mammography"
        ``"mammography"``: bright dense tissue and lesions on a darker fatty
        background, mild Gaussian noise. ``"mri"``: a different domain for
        two-stage transfer: smoother, bimodal fat/fibroglandular texture
        (:math:`\\beta \\approx 2.5`), rim-enhancing masses, calcifications
        invisible (drawn as faint enhancing foci) and Rician noise.
    imbalance_ratio : float, default=4.0
        Non-tumour ROIs per tumour ROI (the study's 1:4). The number of
        positives is ``round(n_samples / (1 + imbalance_ratio))``; it must
        leave both classes at least one ROI.
    lesion_types : sequence of str, default=("circumscribed", "spiculated", "calcification")
        Lesion kinds drawn (uniformly) for the positive ROIs.
    contrast : float, default=1.0
        Multiplies the lesion contrast; lower values make the task harder.
    n_patients : int, default=None
        Number of simulated patients; ``None`` means ``max(1, n_samples // 5)``.
    return_groups : bool, default=False
        Also return the patient id of each ROI.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.

    Returns
    -------
    X : ndarray of uint8, shape (n_samples, image_size, image_size)
        The phantom ROIs.
    y : ndarray of int, shape (n_samples,)
        1 for tumour ROIs.
    groups : ndarray of int, shape (n_samples,)
        Patient ids, only when ``return_groups=True``.

    Raises
    ------
    ValueError
        If a parameter is invalid (a bool where an int is expected
        included), or ``n_samples`` and ``imbalance_ratio`` leave one class
        without any ROI (``make_phantoms(2)`` gives no tumour).

    See Also
    --------
    load_mias : Real ROIs cut from the mini-MIAS mammograms.

    References
    ----------
    .. [1] A. E. Burgess, F. L. Jacobson and P. F. Judy, "Human observer
       detection experiments with mammograms and power-law noise",
       Medical Physics 28(4), 419-437, 2001. doi:10.1118/1.1355308

    Examples
    --------
    >>> from skbreastcad.datasets import make_phantoms
    >>> X, y = make_phantoms(50, image_size=32, random_state=0)
    >>> X.shape, X.dtype, int(y.sum())
    ((50, 32, 32), dtype('uint8'), 10)
    """
    for name, value in (
        ("n_samples", n_samples),
        ("image_size", image_size),
        ("n_patients", n_patients),
    ):
        if isinstance(value, (bool, np.bool_)):
            # bool is an Integral to the constraint: True would pass as 1
            raise InvalidParameterError(
                f"The {name!r} parameter of make_phantoms must be an int; got {value!r}."
            )
    unknown = sorted(set(lesion_types) - set(LESION_TYPES))
    if unknown or not lesion_types:
        raise ValueError(
            f"lesion_types must be a non-empty subset of {LESION_TYPES}; got {tuple(lesion_types)!r}."
        )
    rng = np.random.default_rng(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    size = int(image_size)
    n_pos = int(round(n_samples / (1.0 + imbalance_ratio)))
    if n_pos in (0, n_samples):
        raise ValueError(
            f"make_phantoms(n_samples={n_samples}, imbalance_ratio={imbalance_ratio}) gives "
            f"{'no tumour' if n_pos == 0 else 'no non-tumour'} ROI (round(n_samples / (1 + "
            f"imbalance_ratio)) = {n_pos} tumours): a single class. Raise n_samples or bring "
            "imbalance_ratio closer to 1."
        )
    y = np.zeros(n_samples, dtype=int)
    y[:n_pos] = 1
    rng.shuffle(y)

    n_patients = max(1, n_samples // 5) if n_patients is None else min(int(n_patients), n_samples)
    groups = np.concatenate(
        [np.arange(n_patients), rng.integers(0, n_patients, n_samples - n_patients)]
    )
    rng.shuffle(groups)
    mri = modality == "mri"
    patient_beta = rng.normal(2.5 if mri else 3.0, 0.15, n_patients)
    patient_density = rng.uniform(0.0, 1.0, n_patients)

    background = _power_law_noise(rng, n_samples, size, patient_beta[groups])
    density = patient_density[groups][:, None, None]
    if mri:
        # fat (dark) vs fibroglandular tissue (intermediate), a bimodal texture
        gland = 1.0 / (1.0 + np.exp(-2.0 * (background + 1.2 * density - 0.6)))
        images = 0.12 + 0.30 * gland
    else:
        images = 0.30 + 0.18 * density + 0.09 * background

    rows, cols = _grid(size)
    kinds = np.asarray(lesion_types)[rng.integers(0, len(lesion_types), n_samples)]
    for i in np.flatnonzero(y):
        lesion = _DRAW[kinds[i]](rng, size, rows, cols)
        strength = contrast * rng.uniform(0.14, 0.28)
        if mri:
            if kinds[i] == "calcification":
                lesion = 0.25 * lesion
            else:
                # rim enhancement: the lesion edge enhances more than its core
                rim = np.clip(lesion * (1.0 - lesion) * 4.0, 0, 1)
                lesion = 0.6 * lesion + 0.8 * rim
            strength *= 1.2
        images[i] += strength * lesion

    if mri:
        sigma = 0.025
        real = images + rng.normal(0, sigma, images.shape)
        imag = rng.normal(0, sigma, images.shape)
        images = np.hypot(real, imag)
    else:
        images = images + rng.normal(0, 0.012, images.shape)
    X = np.clip(np.rint(images * 255), 0, 255).astype(np.uint8)
    if return_groups:
        return X, y, groups
    return X, y
