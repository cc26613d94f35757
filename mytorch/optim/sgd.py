class SGD:
    """Plain stochastic gradient descent: W <- W - lr dLdW, b <- b - lr dLdb."""

    def __init__(self, model, lr: float = 0.1):
        """model: a Linear, or any object with a ``layers`` list of Linear."""
        ### BEGIN SOLUTION
        self.layers = model.layers if hasattr(model, "layers") else [model]
        self.lr = lr
        ### END SOLUTION

    def step(self) -> None:
        """Update W and b of every layer from its stored gradients."""
        ### BEGIN SOLUTION
        for layer in self.layers:
            layer.W -= self.lr * layer.dLdW
            layer.b -= self.lr * layer.dLdb.reshape(layer.b.shape)
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Kept so PyTorch-style loops run; backward overwrites gradients anyway."""
