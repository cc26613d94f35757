import numpy as np


class Linear:
    """A dense layer: out = X W + b."""

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # gradients of the weights and the bias, then of the input
        self.dLdW = self.X.T @ grad_out
        self.dLdb = grad_out.sum(axis=0)
        return grad_out @ self.W.T

    def forward(self, X: np.ndarray) -> np.ndarray:
        # remember the input for the backward pass
        self.X = X
        return X @ self.W + self.b.reshape(1, -1)

    def __init__(self, n_in: int, n_out: int):
        self.W = np.random.normal(0.0, 0.1, size=(n_in, n_out))
        self.b = np.zeros(n_out)
