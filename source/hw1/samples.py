"""Typical hw1 mistakes, for the demo's "buggy" student: (file, correct text, buggy text, items lost)."""

BUGS = (
    ("mytorch/nn/activation.py", "return 1 - self.A**2", "return 1 - self.A", ("tanh",)),
    ("mytorch/nn/loss.py", "return 2 * (self.O - self.Y) / self.O.size",
     "return (self.O - self.Y) / self.O.size", ("mse_backward",)),
    ("mytorch/nn/linear.py", "self.W = np.random.normal(0.0, 0.1, size=(num_inputs, num_outputs))",
     "self.W = np.random.uniform(-0.1, 0.1, size=(num_inputs, num_outputs))", ("linear_init",)),
)
