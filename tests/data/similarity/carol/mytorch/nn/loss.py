import numpy as np


class MSELoss:
    """Mean of squared errors over all N x q entries."""

    def forward(self, O: np.ndarray, Y: np.ndarray) -> float:
        """O, Y: (N, q) -> scalar loss. Keep O and Y for backward."""
        self.n_entries = O.size
        self.shape = O.shape
        self.err = (O - Y).ravel()
        return float(self.err @ self.err) / self.n_entries

    def backward(self) -> np.ndarray:
        """-> dL/dO: (N, q)."""
        return (2 / self.n_entries) * self.err.reshape(self.shape)


class CrossEntropyLoss:
    """Softmax over each row of logits, then mean negative log-likelihood."""

    def forward(self, O: np.ndarray, Y: np.ndarray) -> float:
        """O: logits (N, q), Y: one-hot rows (N, q) -> scalar loss."""
        m = O.max(1)[:, None]
        lse = m[:, 0] + np.log(np.exp(O - m).sum(1))  # log-sum-exp per row
        self.S = np.exp(O - lse[:, None])
        self.Y = Y
        self.N = len(O)
        picked = (O * Y).sum(1)
        return float(np.mean(lse * Y.sum(1) - picked))

    def backward(self) -> np.ndarray:
        """-> dL/dO: (N, q)."""
        return np.subtract(self.S, self.Y) / self.N
