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


class Sigmoid:
    """A = 1 / (1 + exp(-H)), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        out = np.empty_like(H, dtype=float)
        pos = H >= 0
        out[pos] = 1 / (1 + np.exp(-H[pos]))
        ex = np.exp(H[~pos])
        out[~pos] = ex / (1 + ex)
        self.sig = out
        return out

    def backward(self) -> np.ndarray:
        """-> dA/dH = A (1 - A), same shape as H."""
        return np.multiply(self.sig, 1 - self.sig)


class Tanh:
    """A = tanh(H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        # tanh(h) = 2 sigmoid(2h) - 1
        self.t = 2 / (1 + np.exp(np.clip(-2 * H, None, 700))) - 1
        return self.t

    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 - A^2, same shape as H."""
        return (1 - self.t) * (1 + self.t)


class ReLU:
    """A = max(0, H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        self.positive = np.greater(H, 0)
        return np.where(self.positive, H, 0.0)

    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 where H > 0, else 0 (0 at exactly 0, like PyTorch)."""
        return self.positive.astype(np.float64)
