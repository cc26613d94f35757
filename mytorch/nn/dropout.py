import numpy as np


class Dropout:
    """Inverted dropout: in training, zero each entry independently with probability p and
    scale the kept ones by 1 / (1 - p), so that the expected output is X; in evaluation, the identity."""

    def __init__(self, p: float = 0.5):
        """p: the probability of dropping an entry, 0 <= p < 1."""
        self.p = p

    def forward(self, X: np.ndarray, train: bool = True) -> np.ndarray:
        """X: any shape -> Y: same shape. In training, draw a new mask (1 keeps an entry,
        with probability 1 - p) and keep it for backward; with train=False return X unchanged."""
        ### BEGIN SOLUTION
        if not train:
            return X
        self.mask = np.random.binomial(1, 1 - self.p, size=X.shape)
        return X * self.mask / (1 - self.p)
        ### END SOLUTION

    def backward(self, dLdY: np.ndarray) -> np.ndarray:
        """dLdY: same shape as X -> dLdX = dLdY * mask / (1 - p), with the last forward's mask."""
        ### BEGIN SOLUTION
        return dLdY * self.mask / (1 - self.p)
        ### END SOLUTION
