"""Cost of probing many layers of a backbone: one forward pass, not one per layer.

Three timings on the same images, in one run, each the best of ``--repeat`` passes
after a warm-up (model build and weight loading included on every side):

- *one pass*: ``CNNLayerFeatures`` of the deepest probed layer (the forward pass
  stops there), i.e. the least any probe of these layers can cost;
- *probe*: :func:`skbreastcad.features.layer_features` of all probed layers;
- *separate*: one ``CNNLayerFeatures`` run per layer, as a hand-built grid does.

The goal is ``probe / one pass <= 1.5``; ``separate / probe`` is the saving.

Usage::

    python benchmarks/bench_experiments.py                  # VGG16, the study's layers 8-17, CPU
    python benchmarks/bench_experiments.py --device cuda --size 224 --n-images 512
"""

import argparse
import time

import numpy as np

from skbreastcad.features import CNNLayerFeatures, layer_features
from skbreastcad.nn import VGG16_STUDY_LAYERS


def best_of(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--layers", nargs="+", help="default: VGG16 study layers 8-17")
    parser.add_argument(
        "--weights", default=None, help="None (default; timing does not depend on them)"
    )
    parser.add_argument("--size", type=int, default=64, help="input side (images are this size)")
    parser.add_argument("--n-images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    layers = args.layers or [VGG16_STUDY_LAYERS[k] for k in range(8, 18)]
    X = np.random.default_rng(0).integers(
        0, 256, (args.n_images, args.size, args.size), dtype=np.uint8
    )
    common = dict(
        weights=args.weights,
        input_size="native",
        batch_size=args.batch_size,
        device=args.device,
        random_state=0,
    )

    def single(layer):
        return CNNLayerFeatures(args.backbone, layer=layer, **common).fit_transform(X)

    # the deepest layer is the one whose run takes longest
    one = max(best_of(lambda: single(layers[-1]), args.repeat), 1e-9)
    probe = best_of(lambda: layer_features(X, args.backbone, layers, **common), args.repeat)
    separate = best_of(lambda: [single(layer) for layer in layers], 1)
    print(
        f"{args.backbone}, {len(layers)} layers, {args.n_images} images of {args.size} px, "
        f"batch {args.batch_size}, {args.device}"
    )
    print(f"one pass (deepest layer {layers[-1]}): {one:.3f} s")
    print(
        f"probe of all {len(layers)} layers:       {probe:.3f} s  = {probe / one:.2f} x one pass "
        f"(goal <= 1.5)"
    )
    print(
        f"{len(layers)} separate CNNLayerFeatures runs: {separate:.3f} s  = {separate / probe:.2f} x the probe"
    )
    return probe / one


if __name__ == "__main__":
    main()
