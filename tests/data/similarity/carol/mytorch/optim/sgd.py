class SGD:
    """Plain stochastic gradient descent: W <- W - lr dLdW, b <- b - lr dLdb."""

    def __init__(self, model, lr: float = 0.1):
        """model: a Linear, or any object with a ``layers`` list of Linear."""
        if hasattr(model, "layers"):
            self.targets = model.layers
        else:
            self.targets = [model]
        self.lr = float(lr)

    def step(self) -> None:
        """Update W and b of every layer from its stored gradients."""
        for t in self.targets:
            t.W[...] = t.W - self.lr * t.dLdW
            t.b[...] = t.b - self.lr * t.dLdb.ravel()

    def zero_grad(self) -> None:
        """Kept so PyTorch-style loops run; backward overwrites gradients anyway."""
