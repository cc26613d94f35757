import numpy as np

from mytorch.nn import Identity, Linear, ReLU


def _build(sizes):
    """Linear layers between consecutive sizes, ReLU after all but the last."""
    lins = [Linear(n_in, n_out) for n_in, n_out in zip(sizes, sizes[1:])]
    acts = [ReLU() for _ in lins[:-1]] + [Identity()]
    return lins, acts


class MLP:
    layers: list
    f: list

    def forward(self, A):
        x = A
        for lin, act in zip(self.layers, self.f):
            x = act.forward(lin.forward(x))
        return x

    def backward(self, dLdA):
        g = dLdA
        for lin, act in reversed(list(zip(self.layers, self.f))):
            g = lin.backward(g * act.backward())
        return g


class MLP0(MLP):
    def __init__(self, num_inputs: int, num_outputs: int):
        self.layers, self.f = _build([num_inputs, num_outputs])


class MLP1(MLP):
    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        self.layers, self.f = _build([num_inputs, num_hidden, num_outputs])


class MLP4(MLP):
    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        self.layers, self.f = _build([num_inputs, *([num_hidden] * 4), num_outputs])
