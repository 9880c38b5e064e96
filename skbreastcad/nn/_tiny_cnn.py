"""The two-convolution test backbone ``"tiny_cnn"``."""

from ..utils._optional import optional_import

with optional_import("The tiny_cnn backbone"):
    from torch import nn

__all__ = ["TinyCNN"]


class TinyCNN(nn.Module):
    """A two-convolution network for tests and debugging.

    It accepts any input size down to 1x1 pixels, which lets scikit-learn's
    common checks run on 1-pixel-high image strips.
    """

    def __init__(self, num_classes=10, width=8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.relu2 = nn.ReLU()
        # a 2x2 grid keeps some position information on tiny inputs
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * width, num_classes)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        return self.fc(self.flatten(self.pool(x)))
