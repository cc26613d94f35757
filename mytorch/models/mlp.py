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
        ### BEGIN SOLUTION
        for layer, f in zip(self.layers, self.f):
            A = f.forward(layer.forward(A))
        return A
        ### END SOLUTION

    def backward(self, dLdA: np.ndarray) -> np.ndarray:
        """dLdA: (N, num_outputs) -> dL/dinput: (N, num_inputs).

        Every layer ends up holding its dLdW and dLdb."""
        ### BEGIN SOLUTION
        for layer, f in zip(reversed(self.layers), reversed(self.f)):
            dLdH = dLdA * f.backward()
            dLdA = layer.backward(dLdH)
        return dLdA
        ### END SOLUTION


class MLP0(MLP):
    """Linear(in, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int):
        ### BEGIN SOLUTION
        self.layers = [Linear(num_inputs, num_outputs)]
        self.f = [Identity()]
        ### END SOLUTION


class MLP1(MLP):
    """Linear(in, h) -> ReLU -> Linear(h, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        ### BEGIN SOLUTION
        self.layers = [Linear(num_inputs, num_hidden), Linear(num_hidden, num_outputs)]
        self.f = [ReLU(), Identity()]
        ### END SOLUTION


class MLP4(MLP):
    """Linear(in, h) -> ReLU -> 3 x [Linear(h, h) -> ReLU] -> Linear(h, out) -> Identity."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        ### BEGIN SOLUTION
        sizes = [num_inputs] + [num_hidden] * 4 + [num_outputs]
        self.layers = [Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
        self.f = [ReLU() for _ in range(4)] + [Identity()]
        ### END SOLUTION
