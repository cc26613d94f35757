import numpy as np
### BEGIN FROM hw2
from scipy.special import erf
### END FROM


class Identity:
    """A = H. Given to you: use it as the pattern for the others."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        self.H = H
        return H

    ### BEGIN UNTIL hw1
    def backward(self) -> np.ndarray:
        """-> dA/dH element-wise, same shape as H."""
        return np.ones_like(self.H)
    ### END UNTIL
    ### BEGIN FROM hw2
    def backward(self, dLdA: np.ndarray | None = None) -> np.ndarray:
        """dLdA: same shape as H -> dLdH = dLdA * dA/dH.
        Without dLdA: dA/dH element-wise, as in hw1."""
        dAdH = np.ones_like(self.H)
        return dAdH if dLdA is None else dLdA * dAdH
    ### END FROM


class Sigmoid:
    """A = 1 / (1 + exp(-H)), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        ### BEGIN SOLUTION
        self.H = H
        # exp of a non-positive number never overflows: pick the stable form per sign.
        e = np.exp(-np.abs(H))
        self.A = np.where(H >= 0, 1 / (1 + e), e / (1 + e))
        return self.A
        ### END SOLUTION

    ### BEGIN UNTIL hw1
    def backward(self) -> np.ndarray:
        """-> dA/dH = A (1 - A), same shape as H."""
        ### BEGIN SOLUTION
        return self.A * (1 - self.A)
        ### END SOLUTION
    ### END UNTIL
    ### BEGIN FROM hw2
    def backward(self, dLdA: np.ndarray | None = None) -> np.ndarray:
        """dLdA: same shape as H -> dLdH = dLdA * dA/dH, where dA/dH = A (1 - A).
        Without dLdA: dA/dH, as in hw1."""
        ### BEGIN SOLUTION
        dAdH = self.A * (1 - self.A)
        return dAdH if dLdA is None else dLdA * dAdH
        ### END SOLUTION
    ### END FROM


class Tanh:
    """A = tanh(H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        ### BEGIN SOLUTION
        self.H = H
        self.A = np.tanh(H)
        return self.A
        ### END SOLUTION

    ### BEGIN UNTIL hw1
    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 - A^2, same shape as H."""
        ### BEGIN SOLUTION
        return 1 - self.A**2
        ### END SOLUTION
    ### END UNTIL
    ### BEGIN FROM hw2
    def backward(self, dLdA: np.ndarray | None = None) -> np.ndarray:
        """dLdA: same shape as H -> dLdH = dLdA * dA/dH, where dA/dH = 1 - A^2.
        Without dLdA: dA/dH, as in hw1."""
        ### BEGIN SOLUTION
        dAdH = 1 - self.A**2
        return dAdH if dLdA is None else dLdA * dAdH
        ### END SOLUTION
    ### END FROM


class ReLU:
    """A = max(0, H), element-wise."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        """H: any shape -> A: same shape."""
        ### BEGIN SOLUTION
        self.H = H
        return np.maximum(H, 0)
        ### END SOLUTION

    ### BEGIN UNTIL hw1
    def backward(self) -> np.ndarray:
        """-> dA/dH = 1 where H > 0, else 0 (0 at exactly 0, like PyTorch)."""
        ### BEGIN SOLUTION
        return (self.H > 0).astype(float)
        ### END SOLUTION
    ### END UNTIL
    ### BEGIN FROM hw2
    def backward(self, dLdA: np.ndarray | None = None) -> np.ndarray:
        """dLdA: same shape as H -> dLdH = dLdA * dA/dH, where dA/dH = 1 where H > 0, else 0
        (0 at exactly 0, like PyTorch). Without dLdA: dA/dH, as in hw1."""
        ### BEGIN SOLUTION
        dAdH = (self.H > 0).astype(float)
        return dAdH if dLdA is None else dLdA * dAdH
        ### END SOLUTION
    ### END FROM
### BEGIN FROM hw2


class GELU:
    """A = Z Phi(Z) = 1/2 Z (1 + erf(Z / sqrt(2))), element-wise: the exact GELU
    (Phi is the standard normal CDF), not its tanh approximation."""

    def forward(self, Z: np.ndarray) -> np.ndarray:
        """Z: any shape -> A: same shape."""
        ### BEGIN SOLUTION
        self.Z = Z
        self.Phi = 0.5 * (1 + erf(Z / np.sqrt(2)))
        return Z * self.Phi
        ### END SOLUTION

    def backward(self, dLdA: np.ndarray | None = None) -> np.ndarray:
        """dLdA: same shape as Z -> dLdZ = dLdA * dA/dZ, where
        dA/dZ = 1/2 (1 + erf(Z / sqrt(2))) + Z / sqrt(2 pi) exp(-Z^2 / 2).
        Without dLdA: dA/dZ, like the other element-wise activations."""
        ### BEGIN SOLUTION
        dAdZ = self.Phi + self.Z * np.exp(-0.5 * self.Z**2) / np.sqrt(2 * np.pi)
        return dAdZ if dLdA is None else dLdA * dAdZ
        ### END SOLUTION


class Softmax:
    """Row-wise softmax: a_m = exp(z_m) / sum_k exp(z_k) for each row z of Z.
    Not element-wise: each output depends on the whole row."""

    def forward(self, Z: np.ndarray) -> np.ndarray:
        """Z: (N, C) -> A: (N, C), each row positive and summing to 1.
        Subtract each row's maximum first, so that exp() stays finite."""
        ### BEGIN SOLUTION
        e = np.exp(Z - Z.max(axis=1, keepdims=True))
        self.A = e / e.sum(axis=1, keepdims=True)
        return self.A
        ### END SOLUTION

    def backward(self, dLdA: np.ndarray) -> np.ndarray:
        """dLdA: (N, C) -> dLdZ: (N, C), each row dLdA times the row's Jacobian
        J_mn = a_m (delta_mn - a_n), without forming J."""
        ### BEGIN SOLUTION
        return self.A * (dLdA - (dLdA * self.A).sum(axis=1, keepdims=True))
        ### END SOLUTION
### END FROM
