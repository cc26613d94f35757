import numpy as np


class Adam:
    """Adam: for each parameter p (W and b of every layer) with gradient g, at step t = 1, 2, ...
    m <- beta1 m + (1 - beta1) g,  v <- beta2 v + (1 - beta2) g^2,
    p <- p - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)."""

    def __init__(self, model, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        """model: a Linear, or any object with a ``layers`` list of objects holding W and b.
        The step count t starts at 0; every layer's m_W, v_W, m_b, v_b start at zero."""
        ### BEGIN SOLUTION
        self.layers = model.layers if hasattr(model, "layers") else [model]
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m_W = [np.zeros_like(layer.W, dtype=float) for layer in self.layers]
        self.v_W = [np.zeros_like(layer.W, dtype=float) for layer in self.layers]
        self.m_b = [np.zeros_like(layer.b, dtype=float) for layer in self.layers]
        self.v_b = [np.zeros_like(layer.b, dtype=float) for layer in self.layers]
        ### END SOLUTION

    def step(self) -> None:
        """Count one more step, then update the moments, W and b of every layer
        from its stored dLdW and dLdb."""
        ### BEGIN SOLUTION
        self.t += 1
        for i, layer in enumerate(self.layers):
            for p, g, m, v in ((layer.W, layer.dLdW, self.m_W[i], self.v_W[i]),
                               (layer.b, layer.dLdb.reshape(layer.b.shape), self.m_b[i], self.v_b[i])):
                m[...] = self.beta1 * m + (1 - self.beta1) * g
                v[...] = self.beta2 * v + (1 - self.beta2) * g**2
                m_hat = m / (1 - self.beta1**self.t)
                v_hat = v / (1 - self.beta2**self.t)
                p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Kept so PyTorch-style loops run; backward overwrites gradients anyway."""
