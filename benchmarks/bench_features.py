"""Throughput of the hand-crafted feature transformers against their peers, 64 to 512 px.

For each ROI size, every transformer and its peer run on the same images with
the same settings, in this one run, on one CPU core (BLAS/FFT threads pinned to
1, ``n_jobs=1``; pin the process too, e.g. ``taskset -c 0``). The two sides are
timed in alternating rounds and the best round of each is kept, so that both
meet the same load. The script prints ROI/s (and pixel pairs/s for GLCM), the
ratio, and saves a log-log plot of ROI/s against ROI size.

Peers: Gabor vs a per-image ``skimage.filters.gabor`` loop over the same
32-kernel bank (plus the mean/variance of the magnitude); GLCM vs
``mahotas.features.haralick`` (distance 1, 4 directions) on 256 grey levels
and on the ROIs quantised to our 32 fixed bins (on phantoms and on
random-texture ROIs), and vs ``skimage.feature.graycomatrix``/``graycoprops``
(256 levels, 2 distances x 4 angles, 6 properties); Haar vs
``skimage.feature.haar_like_feature`` on the same feature coordinates.

With numba installed (``pip install skbreastcad[fast]``) our transformers run
their compiled kernels: each of ours is called once before its timed rounds,
so the JIT compilation is not in the throughput, and the one-off cost of the
first call (importing numba, compiling or loading the kernels) is measured
separately in fresh interpreters, with an empty and with a warm numba cache.
``--no-numba`` (or ``SKBREASTCAD_NUMBA=0``) times the NumPy code instead.

Usage::

    taskset -c 0 python benchmarks/bench_features.py     # 64, 128, 256, 512 px
    taskset -c 0 python benchmarks/bench_features.py --sizes 64 --skip-first-call
    python benchmarks/bench_features.py --quick          # a smoke run
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
from threadpoolctl import threadpool_limits

from skbreastcad.datasets import make_phantoms
from skbreastcad.features import GaborFeatures, GLCMFeatures, HaarFeatures

GABOR_FREQUENCIES = (0.5, 0.25, 0.125, 0.1)
N_ORIENTATIONS = 8
ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
SKIMAGE_PROPS = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation")


def clock(kind):
    """``time.process_time`` (CPU time of this process) or ``time.perf_counter``."""
    return time.process_time if kind == "cpu" else time.perf_counter


def best_rates(ours, n_ours, peer, n_peer, repeat, timer):
    """ROI/s of the fastest of ``repeat`` alternating rounds of each side."""
    best = [np.inf, np.inf]
    for _ in range(repeat):
        for side, func in enumerate((ours, peer)):
            start = timer()
            func()
            best[side] = min(best[side], timer() - start)
    return n_ours / best[0], n_peer / best[1]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def glcm_pairs(offsets, height, width):
    """Pixel pairs of one ROI over all offsets."""
    return int(
        sum((height - abs(dr)) * (width - abs(dc)) for dr, dc in np.asarray(offsets).reshape(-1, 2))
    )


# -- peers --------------------------------------------------------------------
def skimage_gabor(images):
    from skimage.filters import gabor

    out = []
    for image in images.astype(np.float64):
        row = []
        for k in range(N_ORIENTATIONS):
            for freq in GABOR_FREQUENCIES:
                real, imag = gabor(image, frequency=freq, theta=k * np.pi / N_ORIENTATIONS)
                magnitude = np.hypot(real, imag)
                row += [magnitude.mean(), magnitude.var()]
        out.append(row)
    return np.asarray(out)


def mahotas_haralick(images):
    import mahotas.features

    return np.asarray([mahotas.features.haralick(image, distance=1).ravel() for image in images])


def skimage_glcm(images):
    from skimage.feature import graycomatrix, graycoprops

    out = []
    for image in images:
        glcm = graycomatrix(
            image, distances=(1, 2), angles=ANGLES, levels=256, symmetric=True, normed=True
        )
        out.append(np.concatenate([graycoprops(glcm, p).ravel() for p in SKIMAGE_PROPS]))
    return np.asarray(out)


def skimage_haar(images, coords, types):
    from skimage.feature import haar_like_feature
    from skimage.transform import integral_image

    height, width = images.shape[1:]
    return np.asarray(
        [
            haar_like_feature(
                integral_image(image), 0, 0, width, height, feature_type=types, feature_coord=coords
            )
            for image in images
        ]
    )


# -- cases --------------------------------------------------------------------
class Case:
    """One row: our transformer and its peer on the same ROIs."""

    def __init__(self, name, peer_name, ours, n_ours, peer, n_peer, pairs=None):
        self.name, self.peer_name = name, peer_name
        self.ours, self.n_ours, self.peer, self.n_peer = ours, n_ours, peer, n_peer
        self.pairs = pairs  # pixel pairs per ROI (GLCM)


def fbn_levels(images, n_bins=32):
    """Our fixed-bin-number levels 0..n_bins-1 (what mahotas gets in the 32-bin case)."""
    est = GLCMFeatures(n_bins=n_bins).fit(images)
    return est._discretise(images, None, None, slice(None))[0].astype(np.uint8)


def cases(size, n_ours, n_peer, n_gabor_peer):
    images, _ = make_phantoms(n_ours, image_size=size, random_state=0)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    peer = images[:n_peer]
    random = np.random.default_rng(0).integers(0, 256, size=images.shape, dtype=np.uint8)

    gabor = GaborFeatures(
        frequencies=GABOR_FREQUENCIES, n_orientations=N_ORIENTATIONS, n_jobs=1
    ).fit(images)
    yield Case(
        "Gabor 8x4 bank",
        "skimage.filters.gabor loop",
        lambda: gabor.transform(images),
        len(images),
        lambda: skimage_gabor(peer[:n_gabor_peer]),
        n_gabor_peer,
    )

    glcm_mahotas = GLCMFeatures(
        distances=(1,),
        angles=ANGLES,
        discretisation="none",
        n_levels=256,
        aggregation="none",
        n_jobs=1,
    ).fit(images)
    pairs = glcm_pairs(glcm_mahotas.offsets_, size, size)
    yield Case(
        "GLCM 256 lv, d=1, 4 dir",
        "mahotas haralick",
        lambda: glcm_mahotas.transform(images),
        len(images),
        lambda: mahotas_haralick(peer),
        len(peer),
        pairs,
    )

    # The default 32 fixed bins (per ROI min/max), per direction; mahotas gets the same levels.
    glcm_32 = GLCMFeatures(
        distances=(1,), angles=ANGLES, n_bins=32, aggregation="none", n_jobs=1
    ).fit(images)
    for label, rois in (("phantom", images), ("random", random)):
        quantised = fbn_levels(rois[:n_peer])
        yield Case(
            f"GLCM 32 bins, 4 dir ({label})",
            "mahotas on the 32 levels",
            lambda rois=rois: glcm_32.transform(rois),
            len(rois),
            lambda quantised=quantised: mahotas_haralick(quantised),
            len(quantised),
            pairs,
        )

    # skimage's diagonal neighbour at distance 2 is (1, 1) pixels away (Euclidean rounding).
    glcm_skimage = GLCMFeatures(
        distances=(1, 2),
        angles=ANGLES,
        distance_metric="euclidean",
        discretisation="none",
        n_levels=256,
        aggregation="none",
        n_jobs=1,
    ).fit(images)
    yield Case(
        "GLCM 256 lv, 2 d x 4 dir",
        "skimage graycoprops",
        lambda: glcm_skimage.transform(images),
        len(images),
        lambda: skimage_glcm(peer),
        len(peer),
        glcm_pairs(glcm_skimage.offsets_, size, size),
    )

    if size <= 128:  # the default Haar grid grows with the square of the ROI area
        haar = HaarFeatures(n_jobs=1).fit(images)
        coords, types = haar.skimage_feature_coord()
        yield Case(
            f"Haar default ({len(types)} feat.)",
            "skimage haar_like_feature",
            lambda: haar.transform(images),
            len(images),
            lambda: skimage_haar(peer[:n_gabor_peer], coords, types),
            n_gabor_peer,
        )


def haar_full_window_case(n_ours, n_peer):
    """All 162,336 features of one 24x24 window, the issue's reference setting."""
    images, _ = make_phantoms(n_ours, image_size=24, random_state=1)
    haar = HaarFeatures(min_size=1, size_step=1, step=1, n_jobs=1).fit(images)
    coords, types = haar.skimage_feature_coord()
    return Case(
        f"Haar 24x24 all {len(types)} feat.",
        "skimage haar_like_feature",
        lambda: haar.transform(images),
        len(images),
        lambda: skimage_haar(images[:n_peer], coords, types),
        n_peer,
    )


def backend():
    """A line saying which code our transformers run."""
    from skbreastcad.utils._numba import ENV_VAR, numba_version, use_numba

    if use_numba():
        return f"numba {numba_version()} kernels"
    if numba_version() is None:
        return "NumPy code (numba not installed)"
    return f"NumPy code (numba {numba_version()} installed, disabled by {ENV_VAR}=0)"


_FIRST_CALL = """
import time
start = time.perf_counter()
import numpy as np
from skbreastcad.features import GaborFeatures, GLCMFeatures
X = np.random.default_rng(0).integers(0, 256, (4, 64, 64), dtype=np.uint8)
times = []
for est in (GLCMFeatures(discretisation="none", aggregation="none"), GLCMFeatures(),
            GLCMFeatures(n_bins=600), GaborFeatures()):
    est.fit(X)
    t = time.perf_counter(); est.transform(X); first = time.perf_counter() - t
    t = time.perf_counter(); est.transform(X); times.append(first - (time.perf_counter() - t))
print(sum(times[:3]), times[3])
"""


def first_call_seconds():
    """Extra seconds of the first ``transform`` over the second, GLCM (three
    settings: 8-bit levels, 32 bins, a 10-bit table) and Gabor, in fresh
    interpreters: with an empty numba cache (compilation) and with the cache the
    first run left (loading)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for label in ("empty cache", "warm cache"):
            result = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(_FIRST_CALL)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            out[label] = tuple(float(v) for v in result.stdout.split())
    return out


def save_plot(results, path):
    """ROI/s against ROI size, ours (solid) and each peer (dashed), log-log; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 5.5))
    names = list(dict.fromkeys(r["name"] for r in results if r["size"] != 24))
    for index, name in enumerate(names):
        rows = [r for r in results if r["name"] == name]
        sizes = [r["size"] for r in rows]
        colour = f"C{index}"
        ax.plot(sizes, [r["ours"] for r in rows], "o-", color=colour, label=f"{name}: skbreastcad")
        ax.plot(
            sizes,
            [r["peer"] for r in rows],
            "s--",
            color=colour,
            alpha=0.7,
            label=f"{name}: {rows[0]['peer_name']}",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted({r["size"] for r in results if r["size"] != 24})
    ax.set_xticks(sizes, [f"{s}\u00b2" for s in sizes])
    ax.set_xlabel("ROI size (px)")
    ax.set_ylabel("ROI/s, one core")
    ax.set_title(f"Texture features vs peers, synthetic phantoms\n{cpu_name()}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument(
        "--n-images", type=int, default=256, help="ROIs for skbreastcad at 64 px (fewer above)"
    )
    parser.add_argument(
        "--n-peer", type=int, default=32, help="ROIs for the per-image peers at 64 px"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="CPU time of this process (robust to other jobs on a shared machine) or wall time",
    )
    parser.add_argument(
        "--plot", default="docs/images/texture_scaling.png", help="where to save the scaling plot"
    )
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script works")
    parser.add_argument(
        "--no-numba", action="store_true", help="time our NumPy code (SKBREASTCAD_NUMBA=0)"
    )
    parser.add_argument(
        "--skip-first-call", action="store_true", help="do not measure the first call's cost"
    )
    args = parser.parse_args(argv)
    if args.no_numba:
        os.environ["SKBREASTCAD_NUMBA"] = "0"
    if args.quick:
        args.sizes, args.n_images, args.n_peer, args.repeat = [64], 16, 4, 1
    timer = clock(args.clock)

    print(
        f"CPU: {cpu_name()}; one core (threadpoolctl limits=1, n_jobs=1); {args.clock} time, "
        f"best of {args.repeat} alternating rounds per side; synthetic phantom ROIs unless marked random"
    )
    print(f"skbreastcad runs: {backend()}")
    from skbreastcad.utils._numba import use_numba

    if use_numba() and not args.skip_first_call:
        for label, (glcm, gabor) in first_call_seconds().items():
            print(
                f"first transform, {label} (numba import + JIT compile or load): "
                f"GLCM {glcm:.2f} s (3 settings), Gabor {gabor:.2f} s"
            )
    header = (
        f"{'size':>7}  {'transformer':<32}{'ROI/s':>10}{'Mpairs/s':>10}  {'peer':<28}{'ROI/s':>9}"
        f"{'Mpairs/s':>10}{'ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    results = []

    def report(size, case, suffix=""):
        case.ours()  # warm-up: compiles or loads the numba kernels for these settings
        ours, peer = best_rates(case.ours, case.n_ours, case.peer, case.n_peer, args.repeat, timer)
        pairs = "" if case.pairs is None else f"{ours * case.pairs / 1e6:.1f}"
        peer_pairs = "" if case.pairs is None else f"{peer * case.pairs / 1e6:.1f}"
        print(
            f"{size:>4}px  {case.name:<32}{ours:>10.1f}{pairs:>10}  {case.peer_name:<28}{peer:>9.2f}"
            f"{peer_pairs:>10}{ours / peer:>8.1f}x{suffix}",
            flush=True,
        )
        results.append(
            {
                "size": size,
                "name": case.name,
                "peer_name": case.peer_name,
                "ours": ours,
                "peer": peer,
            }
        )

    with threadpool_limits(limits=1):
        for size in args.sizes:
            scale = (64 / size) ** 2
            n_ours = max(4, round(args.n_images * scale))
            n_peer = max(2, round(args.n_peer * scale))
            n_gabor_peer = max(1, round(args.n_peer / 8 * min(1.0, 4 * scale)))
            for case in cases(size, n_ours, n_peer, n_gabor_peer):
                report(size, case)
        report(24, haar_full_window_case(max(8, args.n_images // 4), 2 if args.quick else 4))
    if args.plot:
        save_plot(results, args.plot)
        print(f"scaling plot: {os.path.abspath(args.plot)}")
    return results


if __name__ == "__main__":
    main()
