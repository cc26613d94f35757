class SGD:
    """gradient descent"""

    def zero_grad(self) -> None:
        """nothing to do"""

    def step(self) -> None:
        for lyr in self.lyrs:
            lyr.W -= self.rate * lyr.dLdW
            lyr.b -= self.rate * lyr.dLdb.reshape(lyr.b.shape)

    def __init__(self, model, lr: float = 0.1):
        self.lyrs = model.layers if hasattr(model, "layers") else [model]
        self.rate = lr
