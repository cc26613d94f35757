class SGD:
    def __init__(self, model, lr: float = 0.1):
        layers = getattr(model, "layers", None)
        self.params = list(layers) if layers is not None else [model]
        self.learning_rate = lr

    def zero_grad(self) -> None:
        pass

    def step(self) -> None:
        lr = self.learning_rate
        for p in self.params:
            p.W -= lr * p.dLdW
            p.b -= lr * p.dLdb
