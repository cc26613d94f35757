import numpy as np

from mytorch.nn import Identity, Linear, ReLU


class MLP:
    """Layers applied in turn: A_{i+1} = f_i(A_i W_i + b_i).

    ``layers`` holds the Linear layers in order and ``f`` one activation per
    layer; subclasses only choose them.
    """

    layers: list
    f: list

    def forward(self, A: np.ndarray) -> np.ndarray:
        """A: (N, num_inputs) -> (N, num_outputs)."""
        out = A
        for i in range(len(self.layers)):
            Z = self.layers[i].forward(out)
            out = self.f[i].forward(Z)
        return out

    def backward(self, dLdA: np.ndarray) -> np.ndarray:
        """dLdA: (N, num_outputs) -> dL/dinput: (N, num_inputs).

        Every layer ends up holding its dLdW and dLdb."""
        grad = dLdA
        i = len(self.layers) - 1
        while i >= 0:
            dZ = grad * self.f[i].backward()
            grad = self.layers[i].backward(dZ)
            i -= 1
        return grad


class MLP0(MLP):
    """Linear(in, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int):
        self.layers = []
        self.f = []
        self.layers.append(Linear(num_inputs, num_outputs))
        self.f.append(Identity())


class MLP1(MLP):
    """Linear(in, h) -> ReLU -> Linear(h, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        self.layers = []
        self.f = []
        self.layers.append(Linear(num_inputs, num_hidden))
        self.f.append(ReLU())
        self.layers.append(Linear(num_hidden, num_outputs))
        self.f.append(Identity())


class MLP4(MLP):
    """Linear(in, h) -> ReLU -> 3 x [Linear(h, h) -> ReLU] -> Linear(h, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        self.layers = [Linear(num_inputs, num_hidden)]
        self.f = [ReLU()]
        for _ in range(3):
            self.layers.append(Linear(num_hidden, num_hidden))
            self.f.append(ReLU())
        self.layers.append(Linear(num_hidden, num_outputs))
        self.f.append(Identity())
