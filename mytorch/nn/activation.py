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
        ### BEGIN SOLUTION
        self.H = H
        # exp of a non-positive number never overflows: pick the stable form per sign.
        e = np.exp(-np.abs(H))
        self.A = np.where(H >= 0, 1 / (1 + e), e / (1 + e))
        return self.A
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dA/dH = A (1 - A), same shape as H."""
        ### BEGIN SOLUTION
        return self.A * (1 - self.A)
        ### END SOLUTION


class Tanh:
    """A = tanh(H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        ### BEGIN SOLUTION
        self.H = H
        self.A = np.tanh(H)
        return self.A
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 - A^2, same shape as H."""
        ### BEGIN SOLUTION
        return 1 - self.A**2
        ### END SOLUTION


class ReLU:
    """A = max(0, H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        ### BEGIN SOLUTION
        self.H = H
        return np.maximum(H, 0)
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 where H > 0, else 0 (0 at exactly 0, like PyTorch)."""
        ### BEGIN SOLUTION
        return (self.H > 0).astype(float)
        ### END SOLUTION
