import numpy as np


class Linear:
    """Fully connected layer ``O = A W + 1_N b^T``.

    Row-major batches: ``A`` is ``(N, d)``, ``W`` is ``(d, h)`` (inputs x
    outputs, the transpose of ``torch.nn.Linear.weight``), ``b`` is ``(h,)``.
    """

    def __init__(self, num_inputs: int, num_outputs: int):
        """W ~ Normal(mean 0, variance 0.01), shape (num_inputs, num_outputs);
        b = zeros, shape (num_outputs,)."""
        std = np.sqrt(0.01)
        self.W = std * np.random.randn(num_inputs, num_outputs)
        self.b = np.zeros((num_outputs,))
        self.dLdW = None
        self.dLdb = None

    def forward(self, A: np.ndarray) -> np.ndarray:
        """A: (N, d) -> O: (N, h). Keep what backward needs."""
        self.input = A
        N = A.shape[0]
        ones = np.ones((N, 1))
        Z = np.dot(A, self.W) + np.dot(ones, self.b[None, :])
        return Z

    def backward(self, dLdO: np.ndarray) -> np.ndarray:
        """dLdO: (N, h) -> dLdA: (N, d). Store dLdW (d, h) and dLdb (h,)."""
        N = dLdO.shape[0]
        ones = np.ones((N,))
        # chain rule: O = A W + 1 b^T
        self.dLdb = np.dot(ones, dLdO)
        self.dLdW = np.dot(self.input.T, dLdO)
        dLdA = np.dot(dLdO, self.W.T)
        return dLdA
