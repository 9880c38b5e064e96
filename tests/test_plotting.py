import numpy as np
import pytest
from PIL import Image

from skbreastcad.datasets import make_phantoms
from skbreastcad.plotting import plot_roi_grid


def test_grid_png_is_written_with_one_tile_per_roi(tmp_path):
    X, y = make_phantoms(10, image_size=32, random_state=0)
    out = plot_roi_grid(
        X,
        y,
        target_names=["non-tumour", "tumour"],
        titles=[f"roi{i}" for i in range(10)],
        path=tmp_path / "sub" / "grid.png",
        n_cols=5,
    )
    assert out == tmp_path / "sub" / "grid.png"
    with Image.open(out) as png:
        assert png.format == "PNG"
        assert png.size[0] > png.size[1]  # 5 columns x 2 rows


def test_figure_returned_without_path_and_labels_shown():
    X, y = make_phantoms(4, image_size=16, imbalance_ratio=1.0, random_state=0)
    fig = plot_roi_grid(X.reshape(4, -1), y, target_names=["non-tumour", "tumour"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert sorted(titles) == sorted(["non-tumour", "tumour"][label] for label in y)


def test_uint16_and_float_images(tmp_path):
    rng = np.random.default_rng(0)
    plot_roi_grid(rng.integers(0, 4096, (3, 8, 8)).astype(np.uint16), path=tmp_path / "a.png")
    plot_roi_grid(rng.random((3, 8, 8)), path=tmp_path / "b.png")
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "b.png").stat().st_size > 0


def test_bad_input():
    with pytest.raises(ValueError, match="labels"):
        plot_roi_grid(np.zeros((3, 8, 8)), [0, 1])
    with pytest.raises(ValueError, match="grayscale"):
        plot_roi_grid(np.zeros((3, 8, 8, 3)))
    with pytest.raises(ValueError, match="perfect square"):
        plot_roi_grid(np.zeros((3, 10)))


def _froc_result():
    from skbreastcad.detection import froc

    candidates = {
        "film": ["a", "b"],
        "row": [10, 90],
        "col": [10, 90],
        "radius": [5, 5],
        "score": [0.9, 0.7],
    }
    lesions = {"film": ["a"], "row": [12], "col": [10], "radius": [8]}
    return {"model": froc(candidates, lesions, ["a", "b"], n_bootstraps=20)}


def _figure_calls():
    """Every figure function of skbreastcad.plotting with small valid input."""
    import pandas as pd

    from skbreastcad import plotting

    results = pd.DataFrame(
        {
            "candidate": ["a", "b"],
            "metric": ["f1", "f1"],
            "estimate": [0.8, 0.7],
            "ci_low": [0.7, 0.6],
            "ci_high": [0.9, 0.8],
        }
    )
    curves = pd.DataFrame(
        {
            "candidate": "net",
            "stage": [1, 1, 2, 2],
            "epoch": [1, 2, 1, 2],
            "train_loss": [0.9, 0.6, 0.5, 0.4],
            "valid_loss": [1.0, 0.8, np.nan, np.nan],
        }
    )
    heat = np.outer(np.hanning(16), np.hanning(16))
    return {
        "plot_roi_grid": lambda **kw: plotting.plot_roi_grid(np.zeros((2, 8, 8)), [0, 1], **kw),
        "plot_metric_bars": lambda **kw: plotting.plot_metric_bars(results, **kw),
        "plot_roc_curves": lambda **kw: plotting.plot_roc_curves(
            {"a": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.8, 1.0]}}, **kw
        ),
        "plot_confusion_matrices": lambda **kw: plotting.plot_confusion_matrices(
            {"a": [[8, 2], [1, 9]]}, **kw
        ),
        "plot_calibration_curves": lambda **kw: plotting.plot_calibration_curves(
            {"a": ([0.2, 0.8], [0.1, 0.9])}, **kw
        ),
        "plot_comparisons": lambda **kw: plotting.plot_comparisons(
            results.rename(columns={"estimate": "difference"}), reference="c", **kw
        ),
        "plot_learning_curves": lambda **kw: plotting.plot_learning_curves(curves, **kw),
        "plot_froc": lambda **kw: plotting.plot_froc(_froc_result(), **kw),
        "plot_overlay": lambda **kw: plotting.plot_overlay(np.zeros((16, 16)), heat, **kw),
    }


def test_every_figure_function_is_covered():
    from skbreastcad import plotting

    drawn = {name for name in plotting.__all__ if name.startswith("plot_")}
    assert drawn == set(_figure_calls())


@pytest.mark.parametrize("name", sorted(_figure_calls()))
def test_one_signature_path_none_returns_the_figure_a_path_saves_it(name, tmp_path):
    import inspect

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from skbreastcad import plotting

    parameter = inspect.signature(getattr(plotting, name)).parameters["path"]
    assert parameter.kind is parameter.KEYWORD_ONLY and parameter.default is None
    draw = _figure_calls()[name]
    open_before = plt.get_fignums()
    fig = draw()
    assert isinstance(fig, Figure) and fig.axes
    target = tmp_path / "sub" / f"{name}.png"
    out = draw(path=target, dpi=50)
    assert out == target
    with Image.open(out) as png:
        assert png.format == "PNG"
    # nothing is left open in pyplot's registry, and no temporary file is left behind
    assert plt.get_fignums() == open_before
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_save_figure_leaves_no_half_file_when_drawing_fails(tmp_path, monkeypatch):
    from skbreastcad.plotting import plot_calibration_curves, save_figure

    fig = plot_calibration_curves({"a": ([0.2, 0.8], [0.1, 0.9])})
    old = tmp_path / "old.png"
    save_figure(fig, old)
    before = old.read_bytes()

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, old)
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["old.png"]


def test_deprecated_save_overlay_warns_and_writes_the_same_figure(tmp_path):
    import skbreastcad.detection as detection
    from skbreastcad.plotting import plot_overlay

    image = np.zeros((16, 16))
    heat = np.outer(np.hanning(16), np.hanning(16))
    with pytest.warns(FutureWarning, match="use skbreastcad.plotting.plot_overlay"):
        old = detection.save_overlay(image, heat, tmp_path / "old.png", title="t")
    new = plot_overlay(image, heat, title="t", path=tmp_path / "new.png")
    assert old == tmp_path / "old.png"
    with Image.open(old) as a, Image.open(new) as b:
        assert a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="one shape"):
        detection.save_overlay(image, heat[:4], tmp_path / "bad.png")
