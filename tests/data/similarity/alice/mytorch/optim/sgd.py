class SGD:
    """Plain stochastic gradient descent: W <- W - lr dLdW, b <- b - lr dLdb."""

    def __init__(self, model, lr: float = 0.1):
        """model: a Linear, or any object with a ``layers`` list of Linear."""
        self.model = model
        self.lr = lr

    def step(self) -> None:
        """Update W and b of every layer from its stored gradients."""
        try:
            params = self.model.layers
        except AttributeError:
            params = [self.model]
        for i in range(len(params)):
            params[i].W = params[i].W - self.lr * params[i].dLdW
            params[i].b = params[i].b - self.lr * params[i].dLdb

    def zero_grad(self) -> None:
        """Kept so PyTorch-style loops run; backward overwrites gradients anyway."""
