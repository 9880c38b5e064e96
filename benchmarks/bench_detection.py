"""Speed of whole-film lesion maps: a hand-crafted pipeline, and a CNN against a plain PyTorch loop.

One 1024x1024 film (a mini-MIAS film when the shared data folder is there,
else a synthetic one), 128-px windows resampled to 64 px, at stride 32:

- hand-crafted: ``lesion_map`` of the fused Gabor + GLCM + Haar pipeline
  (features, scaling, logistic regression) -- the target is at most 10 s on
  2 CPU cores; the cheaper GLCM + Haar fusion is timed too;
- CNN: ``lesion_map`` of a ``CNNLayerFeatures`` (the backbone's embedding)
  + scaling + logistic regression pipeline, against a plain PyTorch loop
  that scores the same windows (already cut, uint8) with the same network,
  input size, batch size, bf16/channels-last settings and linear head. The
  loop's time excludes the cutting, so the ratio charges ``lesion_map``
  with everything it does (breast mask, cutting and resampling every
  window, ``predict_proba``, combining the map). Target: at least 0.9.

- film detector: ``FilmLesionDetector`` (blob features + gradient boosting,
  fitted on synthetic films) maps the same film densely at its scales
  (4, 8, 16); its time per film and per scale, preprocessing included,
  is printed next to ``lesion_map``'s (``--skip-detector`` leaves it out);
- dense CNN map: one fully convolutional pass of the same backbone over the
  whole film at full size and halved (the detector's ``cnn_backbone``
  columns), the time per film per scale against ``lesion_map``'s window CNN
  (target: at most 5 s per 1024x1024 film per scale on 2 cores), and the
  detector with its CNN columns (``--skip-dense-cnn`` leaves it out).

Models are fitted on synthetic phantoms (the fit is not timed). Each time
is the best of ``--repeat`` runs after a warm-up.

Usage::

    python benchmarks/bench_detection.py                       # CPU, EfficientNet-Lite0 at 224 px
    python benchmarks/bench_detection.py --skip-handcrafted --device cuda \\
        --backbone timm:tf_efficientnet_lite0 --weights none --n-jobs 8
"""

import argparse
import copy
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skbreastcad.datasets import make_phantoms, read_image
from skbreastcad.datasets._roi import cut_roi
from skbreastcad.detection import FilmLesionDetector, lesion_map
from skbreastcad.features import CNNLayerFeatures, GaborFeatures, GLCMFeatures, HaarFeatures


def find_film(path):
    if path:
        return read_image(path), str(path)
    shared = Path(
        os.environ.get(
            "SKBREASTCAD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )
    real = shared / "mias" / "mdb001.pgm"
    if real.is_file():
        return read_image(real), str(real)
    # a synthetic film: a textured half-disc breast on black, one bright mass
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:1024, :1024]
    film = 110 + 25 * rng.standard_normal((1024, 1024))
    film += 60 * np.exp(-((rows - 400) ** 2 + (cols - 300) ** 2) / (2 * 30**2))
    film[(rows - 512) ** 2 + cols**2 > 470**2] = 0
    return film.clip(0, 255).astype(np.uint8), "synthetic 1024x1024 film"


def best_of(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def plain_loop(cnn, clf_pipe, windows, device, batch_size, amp, channels_last):
    """Embedding of each window with the network, then the linear head: plain PyTorch."""
    model = copy.deepcopy(cnn.model_).to(device).eval()
    head = [n for n, m in model.backbone.named_modules() if isinstance(m, nn.Linear)][-1]
    model.backbone.set_submodule(head, nn.Identity())
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        model.channels_last = True
    scaler, lr = clf_pipe[1], clf_pipe[2]
    w = torch.as_tensor(lr.coef_[0] / scaler.scale_, dtype=torch.float32, device=device)
    b = float(lr.intercept_[0] - lr.coef_[0] @ (scaler.mean_ / scaler.scale_))
    data = torch.from_numpy(windows)

    def run():
        out = []
        with torch.inference_mode():
            for start in range(0, len(data), batch_size):
                x = (
                    data[start : start + batch_size]
                    .to(device, non_blocking=True)
                    .float()
                    .div_(255)
                    .unsqueeze(1)
                )
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    z = model(x)
                out.append(torch.sigmoid(z.float() @ w + b).cpu())
        return torch.cat(out).numpy()

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--film", help="a 1024x1024 film (default: mini-MIAS mdb001, else synthetic)"
    )
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--output-size", type=int, default=64)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument(
        "--weights", default="imagenet", help="'imagenet' or 'none' (speed does not depend on it)"
    )
    parser.add_argument(
        "--input-size", default="default", help="'default' (the backbone's), 'native' or an int"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="threads cutting windows in lesion_map"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads (the target is 2 cores)"
    )
    parser.add_argument("--skip-handcrafted", action="store_true")
    parser.add_argument("--skip-cnn", action="store_true")
    parser.add_argument("--skip-detector", action="store_true")
    parser.add_argument("--skip-dense-cnn", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    film, source = find_film(args.film)
    geometry = dict(crop_size=args.crop_size, output_size=args.output_size, stride=args.stride)
    X, y = make_phantoms(120, image_size=args.output_size, random_state=0)
    print(
        f"film: {source}; {args.crop_size}-px windows -> {args.output_size} px at stride {args.stride}; "
        f"torch threads {torch.get_num_threads()}"
    )

    if not args.skip_handcrafted:
        for label, parts in [
            ("gabor+glcm+haar", (GaborFeatures, GLCMFeatures, HaarFeatures)),
            ("glcm+haar", (GLCMFeatures, HaarFeatures)),
        ]:
            union = FeatureUnion([(p.__name__, p()) for p in parts])
            pipe = make_pipeline(union, StandardScaler(), LogisticRegression(max_iter=2000)).fit(
                X, y
            )
            seconds, result = best_of(
                lambda pipe=pipe: lesion_map(pipe, film, **geometry), args.repeat
            )
            print(
                f"hand-crafted {label:<16} {len(result.scores)} windows in {seconds:.2f} s "
                f"({len(result.scores) / seconds:.0f} windows/s)"
            )

    if not args.skip_detector:
        rng = np.random.default_rng(1)
        rows, cols = np.ogrid[:512, :512]
        films, lesions = [], []
        for k in range(6):
            synthetic = np.where((rows - 256) ** 2 + cols**2 < 470**2, 100.0, 0.0)
            synthetic += rng.normal(0, 8, synthetic.shape) * (synthetic > 0)
            r, c = 120 + 50 * k, 150
            synthetic += 60 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 15.0**2))
            films.append(synthetic.clip(0, 255).astype(np.uint8))
            lesions.append(np.array([[r, c, 30.0]]))
        detector = FilmLesionDetector(hard_negative_rounds=1, negatives_per_film=50).fit(
            films, lesions
        )
        n_scales = len(detector.scales)
        seconds, _ = best_of(lambda: detector.decision_maps([film]), args.repeat)
        cand_seconds, found = best_of(lambda: detector.predict_candidates([film]), args.repeat)
        print(
            f"film detector (blob features + gradient boosting, scales {tuple(detector.scales)}): "
            f"dense maps {seconds:.2f} s per film ({seconds / n_scales:.2f} s per scale), "
            f"candidates {cand_seconds:.2f} s per film ({len(found[0])} candidates)"
        )

    if not args.skip_dense_cnn:
        from skbreastcad.detection._cnn_maps import CNN_BLOCKS, _network, cnn_forward
        from skbreastcad.detection._preprocess import _block_mean

        model = _network(args.backbone).model
        image = film.astype(np.float32) / 127.5 - 1.0
        for reduction in (1, 2):
            small = _block_mean(image, reduction) if reduction > 1 else image
            seconds, maps = best_of(lambda small=small: cnn_forward(model, small), args.repeat)
            print(
                f"dense CNN map {args.backbone} blocks {CNN_BLOCKS} on the film at 1/{reduction} "
                f"({small.shape[0]}x{small.shape[1]}): {seconds:.2f} s per film and scale "
                f"(target <= 5 s); maps {[m.shape for m in maps]}"
            )
        if not args.skip_detector:
            with_cnn = FilmLesionDetector(
                hard_negative_rounds=1, negatives_per_film=50, cnn_backbone=args.backbone
            ).fit(films, lesions)
            seconds, found = best_of(lambda: with_cnn.predict_candidates([film]), args.repeat)
            print(
                f"film detector with CNN columns ({args.backbone}): candidates {seconds:.2f} s "
                f"per film ({len(found[0])} candidates), preprocessing and CNN pass included"
            )

    if not args.skip_cnn:
        device = torch.device(args.device)
        size = {"default": None, "native": "native"}.get(args.input_size)
        size = int(args.input_size) if size is None and args.input_size != "default" else size
        weights = None if args.weights == "none" else args.weights
        cnn = CNNLayerFeatures(
            args.backbone,
            weights=weights,
            input_size=size,
            device=args.device,
            batch_size=args.batch_size,
            random_state=0,
        )
        pipe = make_pipeline(cnn, StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
        fitted = pipe[0]
        amp = device.type == "cuda"
        seconds, result = best_of(
            lambda: lesion_map(
                pipe, film, batch_size=4 * args.batch_size, n_jobs=args.n_jobs, **geometry
            ),
            args.repeat,
        )
        windows = np.stack(
            [cut_roi(film, r, c, args.crop_size, args.output_size)[0] for r, c in result.centers]
        )
        run = plain_loop(fitted, pipe, windows, device, args.batch_size, amp, amp)
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

        def timed_loop():
            out = run()
            sync()
            return out

        loop_seconds, loop_scores = best_of(timed_loop, args.repeat)
        agree = np.corrcoef(loop_scores, result.scores)[0, 1]
        n = len(result.scores)
        print(
            f"CNN {args.backbone} (input {fitted.input_size_ or 'native'}) on {device}: lesion_map {n} windows "
            f"in {seconds:.2f} s ({n / seconds:.1f} windows/s); plain PyTorch loop {loop_seconds:.2f} s "
            f"({n / loop_seconds:.1f} windows/s); ratio {loop_seconds / seconds:.2f} (target >= 0.9); "
            f"score correlation {agree:.4f}"
        )


if __name__ == "__main__":
    main()
