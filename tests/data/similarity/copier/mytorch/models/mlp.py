import numpy as np

from mytorch.nn import Identity, Linear, ReLU


class MLP:
    """a multi layer perceptron"""

    layers: list
    f: list

    def backward(self, grad: np.ndarray) -> np.ndarray:
        # go through the layers from the last to the first
        for lin, act in zip(reversed(self.layers), reversed(self.f)):
            g = grad * act.backward()
            grad = lin.backward(g)
        return grad

    def forward(self, X: np.ndarray) -> np.ndarray:
        for lin, act in zip(self.layers, self.f):
            X = act.forward(lin.forward(X))
        return X


class MLP4(MLP):
    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        dims = [num_inputs] + [num_hidden] * 4 + [num_outputs]
        self.layers = [Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.f = [ReLU() for _ in range(4)] + [Identity()]


class MLP1(MLP):
    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        self.layers = [Linear(num_inputs, num_hidden), Linear(num_hidden, num_outputs)]
        self.f = [ReLU(), Identity()]


class MLP0(MLP):
    def __init__(self, num_inputs: int, num_outputs: int):
        self.layers = [Linear(num_inputs, num_outputs)]
        self.f = [Identity()]
