### BEGIN FROM hw2
import numpy as np
### END FROM


### BEGIN UNTIL hw1
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
### END UNTIL
### BEGIN FROM hw2
class SGD:
    """Stochastic gradient descent with momentum mu, for each parameter p (W and b
    of every layer) with gradient g: v <- mu v + g, then p <- p - lr v.
    With momentum=0 this is plain SGD, p <- p - lr g."""

    def __init__(self, model, lr: float = 0.1, momentum: float = 0):
        """model: a Linear, or any object with a ``layers`` list of objects holding W and b.
        Every layer's velocities v_W, v_b start at zero, shaped like its W and b."""
        ### BEGIN SOLUTION
        self.layers = model.layers if hasattr(model, "layers") else [model]
        self.lr = lr
        self.mu = momentum
        self.v_W = [np.zeros_like(layer.W, dtype=float) for layer in self.layers]
        self.v_b = [np.zeros_like(layer.b, dtype=float) for layer in self.layers]
        ### END SOLUTION

    def step(self) -> None:
        """Update the velocities, then W and b, of every layer from its stored dLdW and dLdb."""
        ### BEGIN SOLUTION
        for layer, v_W, v_b in zip(self.layers, self.v_W, self.v_b):
            v_W[...] = self.mu * v_W + layer.dLdW
            v_b[...] = self.mu * v_b + layer.dLdb.reshape(layer.b.shape)
            layer.W -= self.lr * v_W
            layer.b -= self.lr * v_b
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Kept so PyTorch-style loops run; backward overwrites gradients anyway."""
### END FROM
