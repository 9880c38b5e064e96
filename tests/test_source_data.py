"""SourceData: the stage-1 data set shared, not copied, by clone; validated by the
project's image validation inside fit."""

import copy
import pickle
import tracemalloc

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from skbreastcad.models import SourceData, TwoStageTransferClassifier


def test_clone_of_a_1gb_source_set_allocates_no_second_copy():
    # np.empty reserves 1 GB of address space without touching the pages
    X = np.empty((4096, 512, 512), dtype=np.uint8)
    assert X.nbytes == 2**30
    y = np.arange(len(X)) % 2
    source = SourceData(X, y)
    clf = TwoStageTransferClassifier("tiny_cnn", transfer="two_stage", source_data=source)
    tracemalloc.start()
    try:
        clones = [clone(clf).set_params(**params) for params in ParameterGrid({"lr": [1e-3, 1e-4]})]
        clones += [copy.deepcopy(clf), clone(clone(clf))]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # far below the 1 GB a copy takes
    for other in clones:
        assert other.source_data is source
        assert np.shares_memory(other.source_data.X, X)
    # a plain tuple, by contrast, is deep-copied by every clone
    small = (np.zeros((4, 8, 8), dtype=np.uint8), np.array([0, 1, 0, 1]))
    copied = clone(TwoStageTransferClassifier(source_data=small)).source_data
    assert not np.shares_memory(copied[0], small[0])


def test_handle_is_read_only_unpacks_and_pickles():
    X = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    source = SourceData(X, [0, 1])
    Xs, ys = source
    assert np.shares_memory(Xs, X) and ys.tolist() == [0, 1]
    with pytest.raises(ValueError, match="read-only"):
        Xs[0, 0, 0] = 1
    with pytest.raises(AttributeError):
        source.X = X
    assert (
        repr(source)
        == "SourceData(X=<uint8 array of shape (2, 3, 3)>, y=<int64 array of shape (2,)>)"
    )
    restored = pickle.loads(pickle.dumps(source))
    assert restored is not source and not restored.X.flags.writeable
    np.testing.assert_array_equal(restored.X, X)
    # the estimator stores the handle unchanged
    assert TwoStageTransferClassifier(source_data=source).get_params()["source_data"] is source


def _fit(source, **params):
    X = np.random.default_rng(0).integers(0, 256, (16, 8, 8), dtype=np.uint8)
    y = np.arange(16) % 2
    base = dict(
        transfer="two_stage",
        weights=None,
        source_data=source,
        max_epochs=1,
        source_params={"max_epochs": 1},
        batch_size=8,
        validation_fraction=None,
        random_state=0,
        device="cpu",
    )
    return TwoStageTransferClassifier("tiny_cnn", **{**base, **params}).fit(X, y)


@pytest.mark.parametrize("wrap", [tuple, list])
def test_a_plain_pair_is_refused_with_how_to_wrap_it(wrap):
    rng = np.random.default_rng(1)
    Xs, ys = rng.integers(0, 256, (12, 8, 8), dtype=np.uint8), np.arange(12) % 3
    message = (
        rf"'source_data' parameter of TwoStageTransferClassifier must be a SourceData or None, "
        rf"not a {wrap.__name__}: wrap the pair as source_data=SourceData\(X_source, y_source\)"
    )
    with pytest.raises(ValueError, match=message):
        _fit(wrap((Xs, ys)))
    # the same message with parameter validation switched off (it is checked in fit too)
    from sklearn import config_context

    with config_context(skip_parameter_validation=True), pytest.raises(TypeError, match=message):
        _fit(wrap((Xs, ys)))


def test_flattened_source_rows_take_the_image_shape():
    rng = np.random.default_rng(1)
    Xs, ys = rng.integers(0, 256, (12, 8, 8), dtype=np.uint8), np.arange(12) % 3
    a = _fit(SourceData(Xs, ys))
    X = rng.integers(0, 256, (5, 8, 8), dtype=np.uint8)
    # flattened source rows take the estimator's image_shape
    c = _fit(SourceData(Xs.reshape(12, -1), ys), image_shape=(8, 8))
    np.testing.assert_array_equal(c.predict_proba(X.reshape(5, -1)), a.predict_proba(X))
    # the estimator's fitted attributes describe the target data, not the source set
    assert a.n_features_in_ == 64 and a.image_shape_ == (8, 8)


@pytest.mark.parametrize(
    "source, message",
    [
        ((np.zeros((6, 8, 8, 3)), np.arange(6) % 2), "source_data: .*4 dimension"),
        ((np.full((6, 8, 8), np.inf), np.arange(6) % 2), "source_data: .*infinity"),
        ((np.zeros((6, 7, 7)), np.arange(6) % 2), r"source_data holds images of shape \(7, 7\)"),
        ((np.zeros((6, 8, 8)), np.zeros(6)), "at least 2 classes"),
        ((np.zeros((6, 8, 8)), np.arange(5) % 2), "inconsistent numbers of samples"),
        ((np.zeros((6, 50)), np.arange(6) % 2), "source_data: .*perfect square"),
        ((np.zeros((6, 8, 8)),), r"wrap the pair as source_data=SourceData\(X_source, y_source\)"),
    ],
)
def test_bad_source_data_fails_before_training(source, message):
    wrapped = source if len(source) != 2 else SourceData(*source)
    with pytest.raises(ValueError, match=message):
        _fit(wrapped)
