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
        self.n = len(self.layers)
        h = A
        for k in range(self.n):
            h = self.f[k].forward(self.layers[k].forward(h))
        return h

    def backward(self, dLdA: np.ndarray) -> np.ndarray:
        """dLdA: (N, num_outputs) -> dL/dinput: (N, num_inputs).

        Every layer ends up holding its dLdW and dLdb."""
        delta = dLdA
        for k in range(len(self.layers) - 1, -1, -1):
            delta = np.multiply(delta, self.f[k].backward())
            delta = self.layers[k].backward(delta)
        return delta


class MLP0(MLP):
    """Linear(in, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int):
        self.layers, self.f = [Linear(num_inputs, num_outputs)], [Identity()]


class MLP1(MLP):
    """Linear(in, h) -> ReLU -> Linear(h, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        first, second = Linear(num_inputs, num_hidden), Linear(num_hidden, num_outputs)
        self.layers = [first, second]
        self.f = [ReLU(), Identity()]


class MLP4(MLP):
    """Linear(in, h) -> ReLU -> 3 x [Linear(h, h) -> ReLU] -> Linear(h, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        widths = (num_inputs, num_hidden, num_hidden, num_hidden, num_hidden, num_outputs)
        self.layers = []
        for k in range(5):
            self.layers.append(Linear(widths[k], widths[k + 1]))
        self.f = [ReLU(), ReLU(), ReLU(), ReLU(), Identity()]
