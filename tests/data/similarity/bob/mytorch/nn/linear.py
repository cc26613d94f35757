import numpy as np


def _init_weights(fan_in, fan_out, variance=0.01):
    return np.random.normal(loc=0.0, scale=variance ** 0.5, size=(fan_in, fan_out))


class Linear:
    """Fully connected layer ``O = A W + 1_N b^T``."""

    def __init__(self, num_inputs: int, num_outputs: int):
        self.W = _init_weights(num_inputs, num_outputs)
        self.b = np.zeros(num_outputs, dtype=np.float64)

    def forward(self, A: np.ndarray) -> np.ndarray:
        self.cache = A  # needed for dLdW
        out = A @ self.W
        out += self.b  # broadcasts over the batch
        return out

    def backward(self, dLdO: np.ndarray) -> np.ndarray:
        A = self.cache
        self.dLdW, self.dLdb = A.T @ dLdO, np.sum(dLdO, axis=0)
        return np.matmul(dLdO, np.transpose(self.W))
