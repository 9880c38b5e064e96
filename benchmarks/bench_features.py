"""Throughput of the hand-crafted feature transformers against their peers.

For each ROI size, every transformer and its peer run on the same images with
the same settings, in this one run, on one CPU core (BLAS/FFT threads pinned to
1, ``n_jobs=1``), and the script prints ROI/s and the ratio.

Peers (issue 2): Gabor vs a per-image ``skimage.filters.gabor`` loop over the
same 32-kernel bank (plus the mean/variance of the magnitude); GLCM vs
``mahotas.features.haralick`` (256 grey levels, distance 1, 4 directions) and vs
``skimage.feature.graycomatrix``/``graycoprops`` (256 levels, 2 distances x 4
angles, 6 properties); Haar vs ``skimage.feature.haar_like_feature`` on the
same feature coordinates.

Usage::

    python benchmarks/bench_features.py            # 64x64 and 128x128
    python benchmarks/bench_features.py --quick    # a smoke run
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from skbreastcad.datasets import make_phantoms
from skbreastcad.features import GaborFeatures, GLCMFeatures, HaarFeatures

GABOR_FREQUENCIES = (0.5, 0.25, 0.125, 0.1)
N_ORIENTATIONS = 8
ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
SKIMAGE_PROPS = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation")


def best_rate(func, n_images, repeat):
    """ROI/s of the fastest of ``repeat`` calls of ``func`` over ``n_images``."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return n_images / best


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
        glcm = graycomatrix(image, distances=(1, 2), angles=ANGLES, levels=256, symmetric=True, normed=True)
        out.append(np.concatenate([graycoprops(glcm, p).ravel() for p in SKIMAGE_PROPS]))
    return np.asarray(out)


def skimage_haar(images, coords, types):
    from skimage.feature import haar_like_feature
    from skimage.transform import integral_image

    height, width = images.shape[1:]
    return np.asarray(
        [
            haar_like_feature(integral_image(image), 0, 0, width, height, feature_type=types, feature_coord=coords)
            for image in images
        ]
    )


# -- cases --------------------------------------------------------------------
def cases(size, n_ours, n_peer, n_haar_peer):
    images, _ = make_phantoms(n_ours, image_size=size, random_state=0)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    peer = images[:n_peer]

    gabor = GaborFeatures(frequencies=GABOR_FREQUENCIES, n_orientations=N_ORIENTATIONS, n_jobs=1).fit(images)
    yield ("Gabor 8x4 bank", "skimage.filters.gabor loop", lambda: gabor.transform(images), len(images),
           lambda: skimage_gabor(peer[: max(2, n_peer // 8)]), max(2, n_peer // 8))

    glcm_mahotas = GLCMFeatures(
        distances=(1,), angles=ANGLES, discretisation="none", n_levels=256, aggregation="none", n_jobs=1
    ).fit(images)
    yield ("GLCM 256 lv, d=1, 4 dir", "mahotas haralick", lambda: glcm_mahotas.transform(images), len(images),
           lambda: mahotas_haralick(peer), len(peer))

    # skimage's diagonal neighbour at distance 2 is (1, 1) pixels away (Euclidean rounding).
    glcm_skimage = GLCMFeatures(
        distances=(1, 2), angles=ANGLES, distance_metric="euclidean", discretisation="none", n_levels=256,
        aggregation="none", n_jobs=1,
    ).fit(images)
    yield ("GLCM 256 lv, 2 d x 4 dir", "skimage graycoprops", lambda: glcm_skimage.transform(images), len(images),
           lambda: skimage_glcm(peer), len(peer))

    haar = HaarFeatures(n_jobs=1).fit(images)
    coords, types = haar.skimage_feature_coord()
    yield (f"Haar default ({len(types)} feat.)", "skimage haar_like_feature", lambda: haar.transform(images),
           len(images), lambda: skimage_haar(peer[:n_haar_peer], coords, types), n_haar_peer)


def haar_full_window_case(n_ours, n_peer):
    """All 162,336 features of one 24x24 window, the issue's reference setting."""
    images, _ = make_phantoms(n_ours, image_size=24, random_state=1)
    haar = HaarFeatures(min_size=1, size_step=1, step=1, n_jobs=1).fit(images)
    coords, types = haar.skimage_feature_coord()
    return ("Haar 24x24 all features", "skimage haar_like_feature", lambda: haar.transform(images), len(images),
            lambda: skimage_haar(images[:n_peer], coords, types), n_peer, len(types))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--n-images", type=int, default=256, help="ROIs for skbreastcad")
    parser.add_argument("--n-peer", type=int, default=32, help="ROIs for the per-image peers")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script works")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.n_images, args.n_peer, args.repeat = [64], 16, 4, 1

    print(f"one CPU core (threadpoolctl limits=1, n_jobs=1); ROI/s = best of {args.repeat} runs, both sides")
    header = f"{'size':>7}  {'transformer':<30}{'ROI/s':>10}  {'peer':<28}{'ROI/s':>9}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    with threadpool_limits(limits=1):
        for size in args.sizes:
            for name, peer_name, ours, n_ours, peer, n_peer in cases(size, args.n_images, args.n_peer, args.n_peer):
                ours_rate = best_rate(ours, n_ours, args.repeat)
                peer_rate = best_rate(peer, n_peer, args.repeat)
                print(f"{size:>4}px  {name:<30}{ours_rate:>10.1f}  {peer_name:<28}{peer_rate:>9.2f}"
                      f"{ours_rate / peer_rate:>8.1f}x", flush=True)
        name, peer_name, ours, n_ours, peer, n_peer, n_feat = haar_full_window_case(
            max(8, args.n_images // 4), 2 if args.quick else 4
        )
        ours_rate = best_rate(ours, n_ours, args.repeat)
        peer_rate = best_rate(peer, n_peer, args.repeat)
        print(f"{24:>4}px  {name:<30}{ours_rate:>10.1f}  {peer_name:<28}{peer_rate:>9.2f}"
              f"{ours_rate / peer_rate:>8.1f}x   ({n_feat} features)", flush=True)


if __name__ == "__main__":
    main()
