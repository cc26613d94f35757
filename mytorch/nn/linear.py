import numpy as np


class Linear:
    """Fully connected layer ``O = A W + 1_N b^T``.

    Row-major batches: ``A`` is ``(N, d)``, ``W`` is ``(d, h)`` (inputs x
    outputs, the transpose of ``torch.nn.Linear.weight``), ``b`` is ``(h,)``.
    """

    def __init__(self, num_inputs: int, num_outputs: int):
        """W ~ Normal(mean 0, variance 0.01), shape (num_inputs, num_outputs);
        b = zeros, shape (num_outputs,)."""
        ### BEGIN SOLUTION
        self.W = np.random.normal(0.0, 0.1, size=(num_inputs, num_outputs))
        self.b = np.zeros(num_outputs)
        ### END SOLUTION

    def forward(self, A: np.ndarray) -> np.ndarray:
        """A: (N, d) -> O: (N, h). Keep what backward needs."""
        ### BEGIN SOLUTION
        self.A = A
        return A @ self.W + self.b.reshape(1, -1)
        ### END SOLUTION

    def backward(self, dLdO: np.ndarray) -> np.ndarray:
        """dLdO: (N, h) -> dLdA: (N, d). Store dLdW (d, h) and dLdb (h,)."""
        ### BEGIN SOLUTION
        self.dLdW = self.A.T @ dLdO
        self.dLdb = dLdO.sum(axis=0)
        return dLdO @ self.W.T
        ### END SOLUTION
