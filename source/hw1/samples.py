"""Typical hw1 mistakes, for the demo's "buggy" student: (file, correct text, buggy text, items lost)."""

BUGS = (
    ("mytorch/nn/activation.py", "return 1 - self.A**2", "return 1 - self.A", ("tanh",)),
    ("mytorch/nn/loss.py", "return 2 * (self.O - self.Y) / self.O.size",
     "return (self.O - self.Y) / self.O.size", ("mse_backward",)),
    ("mytorch/nn/linear.py", "self.W = np.random.normal(0.0, 0.1, size=(num_inputs, num_outputs))",
     "self.W = np.random.uniform(-0.1, 0.1, size=(num_inputs, num_outputs))", ("linear_init",)),
)

# Correct alternatives students really write, the shape of BUGS with nothing to lose:
# (file, reference text, other correct text).  `course mutants hw1 --variants` grades each in
# the reference's place; none may lose a point.
VARIANTS = (
    # b kept as the row (1, h) the spec calls not wrong, and dLdb summed with keepdims, (1, h) too.
    ("mytorch/nn/linear.py", "self.b = np.zeros(num_outputs)", "self.b = np.zeros((1, num_outputs))"),
    ("mytorch/nn/linear.py", "self.dLdb = dLdO.sum(axis=0)", "self.dLdb = np.sum(dLdO, axis=0, keepdims=True)"),
    # The mean written out as a sum over N q.
    ("mytorch/nn/loss.py", "return float(np.mean((O - Y) ** 2))",
     "return float(np.sum((O - Y) * (O - Y)) / (O.shape[0] * O.shape[1]))"),
    # Cross-entropy without the max shift: exp() of logits of a few hundred is finite in float64.
    ("mytorch/nn/loss.py", "shifted = O - O.max(axis=1, keepdims=True)", "shifted = O"),
    # The log of a softmax, not a log-softmax, and the mean over rows of each row's loss.
    ("mytorch/nn/loss.py",
     "        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
     "        self.softmax = np.exp(log_softmax)\n"
     "        return float(-(Y * log_softmax).sum() / O.shape[0])",
     "        e = np.exp(shifted)\n"
     "        self.softmax = e / np.sum(e, axis=1, keepdims=True)\n"
     "        return float(np.mean(np.sum(-Y * np.log(self.softmax), axis=1)))"),
    # The textbook sigmoid (finite for the graded inputs; -1e3 is advice).
    ("mytorch/nn/activation.py",
     "        e = np.exp(-np.abs(H))\n        self.A = np.where(H >= 0, 1 / (1 + e), e / (1 + e))",
     "        self.A = 1 / (1 + np.exp(-H))"),
    ("mytorch/nn/activation.py", "return 1 - self.A**2", "return 1 - np.tanh(self.H) ** 2"),
    ("mytorch/nn/activation.py", "return (self.H > 0).astype(float)", "return np.where(self.H > 0, 1.0, 0.0)"),
    # SGD that makes new arrays instead of updating in place.
    ("mytorch/optim/sgd.py", "            layer.W -= self.lr * layer.dLdW\n",
     "            layer.W = layer.W - self.lr * layer.dLdW\n"),
    # MLP4's layers written out one by one, not from a list of sizes.
    ("mytorch/models/mlp.py",
     "        sizes = [num_inputs] + [num_hidden] * 4 + [num_outputs]\n"
     "        self.layers = [Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]",
     "        self.layers = [Linear(num_inputs, num_hidden), Linear(num_hidden, num_hidden),\n"
     "                       Linear(num_hidden, num_hidden), Linear(num_hidden, num_hidden),\n"
     "                       Linear(num_hidden, num_outputs)]"),
    # backward over the layers by index, the activation's derivative taken first.
    ("mytorch/models/mlp.py",
     "        for layer, f in zip(reversed(self.layers), reversed(self.f)):\n"
     "            dLdH = dLdA * f.backward()\n"
     "            dLdA = layer.backward(dLdH)",
     "        for i in range(len(self.layers) - 1, -1, -1):\n"
     "            dAdH = self.f[i].backward()\n"
     "            dLdA = self.layers[i].backward(dLdA * dAdH)"),
)
