import numpy as np


class Identity:
    """A = H. Given to you: use it as the pattern for the others."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        self.H = H
        return H

    def backward(self) -> np.ndarray:
        """-> dA/dH element-wise, same shape as H."""
        return np.ones_like(self.H)


def _logistic(x):
    # 0.5 * (1 + tanh(x / 2)) is the logistic function and never overflows
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class Sigmoid:
    def forward(self, H):
        self.out = _logistic(H)
        return self.out

    def backward(self):
        return self.out * (1.0 - self.out)


class Tanh:
    def forward(self, H):
        self.out = np.tanh(H)
        return self.out

    def backward(self):
        return 1.0 - self.out * self.out


class ReLU:
    def forward(self, H):
        self.H = H
        return H * (H > 0)

    def backward(self):
        return np.heaviside(self.H, 0.0)
