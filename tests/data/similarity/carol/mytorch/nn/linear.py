import numpy as np


class Linear:
    """Fully connected layer ``O = A W + 1_N b^T``.

    Row-major batches: ``A`` is ``(N, d)``, ``W`` is ``(d, h)`` (inputs x
    outputs, the transpose of ``torch.nn.Linear.weight``), ``b`` is ``(h,)``.
    """

    def __init__(self, num_inputs: int, num_outputs: int):
        """W ~ Normal(mean 0, variance 0.01), shape (num_inputs, num_outputs);
        b = zeros, shape (num_outputs,)."""
        rng = np.random.default_rng()
        self.W = rng.standard_normal((num_inputs, num_outputs)) / 10
        self.b = np.zeros(shape=num_outputs)
        self.A = None

    def forward(self, A: np.ndarray) -> np.ndarray:
        """A: (N, d) -> O: (N, h). Keep what backward needs."""
        self.A = np.asarray(A, dtype=float)
        return np.einsum("nd,dh->nh", self.A, self.W) + self.b

    def backward(self, dLdO: np.ndarray) -> np.ndarray:
        """dLdO: (N, h) -> dLdA: (N, d). Store dLdW (d, h) and dLdb (h,)."""
        self.dLdW = np.einsum("nd,nh->dh", self.A, dLdO)
        self.dLdb = np.einsum("nh->h", dLdO)
        return np.einsum("nh,dh->nd", dLdO, self.W)
