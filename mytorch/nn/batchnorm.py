import numpy as np


class BatchNorm1d:
    """Batch normalisation of each of C features over a batch Z: (N, C).

    Training: NZ = (Z - M) / sqrt(V + eps) with M, V the batch's mean and (biased)
    variance per feature, BZ = BW * NZ + Bb; running averages of M and V are kept
    for inference, where they take the batch statistics' place.
    """

    def __init__(self, num_features: int, alpha: float = 0.9):
        """BW = ones, Bb = zeros, running_M = zeros, running_V = ones, all (1, C);
        alpha weighs the old running statistics against the new batch's."""
        self.alpha = alpha
        self.eps = 1e-8
        self.BW = np.ones((1, num_features))
        self.Bb = np.zeros((1, num_features))
        self.dLdBW = np.zeros((1, num_features))
        self.dLdBb = np.zeros((1, num_features))
        self.running_M = np.zeros((1, num_features))
        self.running_V = np.ones((1, num_features))

    def forward(self, Z: np.ndarray, eval: bool = False) -> np.ndarray:
        """Z: (N, C) -> BZ: (N, C).

        eval=False (training): normalise with the batch's M and V (keeping what backward
        needs), then update running_M <- alpha running_M + (1 - alpha) M, and running_V
        the same way with V.
        eval=True (inference): normalise with running_M and running_V, which stay unchanged."""
        ### BEGIN SOLUTION
        if eval:
            NZ = (Z - self.running_M) / np.sqrt(self.running_V + self.eps)
            return self.BW * NZ + self.Bb
        self.M = Z.mean(axis=0, keepdims=True)
        self.V = ((Z - self.M) ** 2).mean(axis=0, keepdims=True)
        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
        self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
        self.running_V = self.alpha * self.running_V + (1 - self.alpha) * self.V
        return self.BW * self.NZ + self.Bb
        ### END SOLUTION

    def backward(self, dLdBZ: np.ndarray) -> np.ndarray:
        """dLdBZ: (N, C) -> dLdZ: (N, C), after a training forward.

        Store dLdBW = sum over rows of dLdBZ * NZ and dLdBb = sum over rows of dLdBZ,
        both (1, C). dLdZ is the exact gradient: Z reaches the loss through NZ
        directly and through M and V."""
        ### BEGIN SOLUTION
        self.dLdBW = (dLdBZ * self.NZ).sum(axis=0, keepdims=True)
        self.dLdBb = dLdBZ.sum(axis=0, keepdims=True)
        dLdNZ = dLdBZ * self.BW
        # Through M and V the gradient loses its mean and its component along NZ.
        return (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)
                - self.NZ * (dLdNZ * self.NZ).mean(axis=0, keepdims=True)) / np.sqrt(self.V + self.eps)
        ### END SOLUTION
