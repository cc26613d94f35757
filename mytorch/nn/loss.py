import numpy as np


class MSELoss:
    """Mean of squared errors over all N x q entries."""

    def forward(self, O: np.ndarray, Y: np.ndarray) -> float:
        """O, Y: (N, q) -> scalar loss. Keep O and Y for backward."""
        ### BEGIN SOLUTION
        self.O, self.Y = O, Y
        return float(np.mean((O - Y) ** 2))
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dL/dO: (N, q)."""
        ### BEGIN SOLUTION
        return 2 * (self.O - self.Y) / self.O.size
        ### END SOLUTION


class CrossEntropyLoss:
    """Softmax over each row of logits, then mean negative log-likelihood."""

    def forward(self, O: np.ndarray, Y: np.ndarray) -> float:
        """O: logits (N, q), Y: one-hot rows (N, q) -> scalar loss."""
        ### BEGIN SOLUTION
        self.O, self.Y = O, Y
        # Shifting by the row max keeps exp() finite for large logits.
        shifted = O - O.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.softmax = np.exp(log_softmax)
        return float(-(Y * log_softmax).sum() / O.shape[0])
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dL/dO: (N, q)."""
        ### BEGIN SOLUTION
        return (self.softmax - self.Y) / self.O.shape[0]
        ### END SOLUTION
### BEGIN FROM hw2


class BCELoss:
    """Binary cross-entropy, averaged over all N x q entries:
    L = -(1 / (N q)) sum [Y log A + (1 - Y) log(1 - A)]."""

    def forward(self, A: np.ndarray, Y: np.ndarray) -> float:
        """A: probabilities in (0, 1), (N, q); Y: targets in {0, 1}, (N, q) -> scalar loss.
        Keep A and Y for backward."""
        ### BEGIN SOLUTION
        self.A, self.Y = A, Y
        return float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """-> dL/dA = (A - Y) / (A (1 - A)) / (N q): (N, q)."""
        ### BEGIN SOLUTION
        return (self.A - self.Y) / (self.A * (1 - self.A)) / self.A.size
        ### END SOLUTION
### END FROM
