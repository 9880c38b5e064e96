"""Prediction of the fine-tuned network classifiers: softmax probabilities in fixed-size batches."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..utils._optional import optional_import
from ._lazy_input import validate_input

__all__ = ["NetworkClassifierMixin"]


class NetworkClassifierMixin:
    """``predict_proba`` and ``predict`` of a fitted network classifier.

    For a :class:`~skbreastcad.nn._base.BaseDeepEstimator` whose ``fit`` sets
    ``module_`` (the network, logits out) and ``classes_``.
    """

    def _torch_model(self):
        return self.module_

    def _torch_architecture(self, name):
        # the network ends in a classification layer for the fitted classes
        return super()._torch_architecture(name, num_classes=len(self.classes_))

    def predict_proba(self, X):
        """Class probabilities of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Softmax probabilities, columns in the order of ``classes_``.
        """
        with optional_import("TwoStageTransferClassifier"):
            import torch

        check_is_fitted(self)
        images = validate_input(self, X, reset=False, image_shape=self.image_shape)
        model, device, amp = self._inference_setup()
        return self._batched_inference(
            model,
            images,
            device,
            amp,
            lambda model, x: model(x),
            post=lambda logits: torch.softmax(logits, dim=1),
        )

    def predict(self, X):
        """Predicted class of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width) or (n_samples, height * width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each image.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
