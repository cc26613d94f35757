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
        H = np.clip(H, -500, 500)  # avoid overflow in exp
        self.A = 1.0 / (1.0 + np.exp(-H))
        return self.A

    def backward(self) -> np.ndarray:
        """-> dA/dH = A (1 - A), same shape as H."""
        s = self.A
        return s - s * s


class Tanh:
    """A = tanh(H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        ep = np.exp(H)
        em = np.exp(-H)
        self.A = (ep - em) / (ep + em)
        self.A = np.where(H > 20, 1.0, np.where(H < -20, -1.0, self.A))
        return self.A

    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 - A^2, same shape as H."""
        return 1.0 - np.square(self.A)


class ReLU:
    """A = max(0, H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        self.mask = H > 0
        out = H.copy()
        out[~self.mask] = 0
        return out

    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 where H > 0, else 0 (0 at exactly 0, like PyTorch)."""
        grad = np.zeros(self.mask.shape)
        grad[self.mask] = 1.0
        return grad
