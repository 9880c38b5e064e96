"""The transformers compose in scikit-learn / imbalanced-learn pipelines as documented."""

import numpy as np
import pytest
import sklearn
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from skbreastcad.datasets import make_phantoms
from skbreastcad.features import GaborFeatures, GLCMFeatures, HaarFeatures
from skbreastcad.sampling import RandomImageOverSampler


@pytest.fixture(scope="module")
def data():
    X, y = make_phantoms(60, image_size=40, random_state=0)
    rng = np.random.default_rng(0)
    masks = np.zeros(X.shape, dtype=bool)
    for m in masks:
        r, c = rng.integers(0, 10, 2)
        m[r : r + 30, c : c + 30] = True
    return X, y, masks


def test_masks_route_through_pipeline_and_grid_search(data):
    X, y, masks = data
    with sklearn.config_context(enable_metadata_routing=True):
        glcm = GLCMFeatures().set_fit_request(mask=True).set_transform_request(mask=True)
        pipe = make_pipeline(glcm, StandardScaler(), LogisticRegression(max_iter=2000))
        pipe.fit(X, y, mask=masks)
        routed = pipe[:-1].transform(X, mask=masks)
        direct = GLCMFeatures().fit(X, mask=masks).transform(X, mask=masks)
        np.testing.assert_allclose(pipe[0].transform(X, mask=masks), direct)
        # the mask changes the features: it really reached the transformer
        assert not np.allclose(pipe[0].transform(X), direct)
        assert routed.shape == (len(X), 25)
        search = GridSearchCV(pipe, {"glcmfeatures__n_bins": [16, 32]}, cv=3)
        search.fit(X, y, mask=masks)
        assert search.best_estimator_.predict(X, mask=masks).shape == y.shape
        assert pipe.predict(X, mask=masks).shape == y.shape


def test_feature_fusion_union_names(data):
    X, y, _ = data
    union = FeatureUnion(
        [
            ("gabor", GaborFeatures()),
            ("glcm", GLCMFeatures()),
            ("haar", HaarFeatures(max_features=50, random_state=0)),
        ]
    )
    Xt = union.fit_transform(X)
    names = union.get_feature_names_out()
    assert Xt.shape == (len(X), 64 + 25 + 50)
    assert names[0] == "gabor__gabor_theta0_freq0.5_mean"


def test_image_oversampler_then_features_in_imblearn_pipeline(data):
    X, y, _ = data
    groups = np.arange(len(y)) // 3
    pipe = ImbPipeline(
        [
            ("oversample", RandomImageOverSampler(random_state=0)),
            ("features", GLCMFeatures()),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )
    search = GridSearchCV(pipe, {"features__n_bins": [8, 32]}, cv=GroupKFold(3))
    search.fit(X, y, groups=groups)
    assert search.best_estimator_.predict(X).shape == y.shape
