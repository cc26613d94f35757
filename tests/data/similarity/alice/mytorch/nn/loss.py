import numpy as np


class MSELoss:
    """Mean of squared errors over all N x q entries."""

    def forward(self, O: np.ndarray, Y: np.ndarray) -> float:
        """O, Y: (N, q) -> scalar loss. Keep O and Y for backward."""
        self.O = O
        self.Y = Y
        N, q = O.shape
        diff = O - Y
        sse = np.sum(diff * diff)
        return sse / (N * q)

    def backward(self) -> np.ndarray:
        """-> dL/dO: (N, q)."""
        N, q = self.O.shape
        return (2.0 / (N * q)) * (self.O - self.Y)


class CrossEntropyLoss:
    """Softmax over each row of logits, then mean negative log-likelihood."""

    def forward(self, O: np.ndarray, Y: np.ndarray) -> float:
        """O: logits (N, q), Y: one-hot rows (N, q) -> scalar loss."""
        self.Y = Y
        N = O.shape[0]
        probs = np.zeros_like(O, dtype=float)
        total = 0.0
        for i in range(N):
            row = O[i] - np.max(O[i])
            e = np.exp(row)
            probs[i] = e / np.sum(e)
            log_p = row - np.log(np.sum(e))
            total -= np.sum(Y[i] * log_p)
        self.probs = probs
        return total / N

    def backward(self) -> np.ndarray:
        """-> dL/dO: (N, q)."""
        N = self.Y.shape[0]
        grad = self.probs - self.Y
        return grad / N
