"""Typical hw2 mistakes, for the demo's "buggy" student: (file, correct text, buggy text, items lost).

Each costs exactly the items whose checks run the code it breaks:

* GELU with the tanh approximation: ``gelu`` (torch.nn.GELU() is the exact, erf form).
* BatchNorm with the unbiased variance (ddof=1): ``batchnorm_train`` (BZ and running_V) and
  ``batchnorm_backward`` (the backward follows a training forward, whose NZ is then wrong, so
  dLdBW is too); not ``batchnorm_eval``, which sets running_M and running_V itself and grades
  the inference formula alone.
* BatchNorm backward without the terms through M and V: ``batchnorm_backward``.
* SGD adding the gradient to the velocity after the step: ``sgd_momentum``.
* Adam without bias correction: ``adam``.
* Dropout without the 1 / (1 - p) scale: ``dropout``.
* Softmax without the row maximum subtracted: nothing (graded logits reach a few hundred, which
  exp() takes in float64; only the advice, with logits of 1e3, tells).
* A training loop (TrainingTester's solution cell train_epoch_code) that forgets
  optimizer.zero_grad(), or that draws a new permutation for every batch: ``train_epoch``.
"""

BUGS = (
    ("mytorch/nn/activation.py", "self.Phi = 0.5 * (1 + erf(Z / np.sqrt(2)))",
     "self.Phi = 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * (Z + 0.044715 * Z**3)))", ("gelu",)),
    ("mytorch/nn/activation.py", "e = np.exp(Z - Z.max(axis=1, keepdims=True))", "e = np.exp(Z)", ()),
    ("mytorch/nn/batchnorm.py", "self.V = ((Z - self.M) ** 2).mean(axis=0, keepdims=True)",
     "self.V = Z.var(axis=0, ddof=1, keepdims=True)", ("batchnorm_train", "batchnorm_backward")),
    ("mytorch/nn/batchnorm.py",
     "return (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)\n"
     "                - self.NZ * (dLdNZ * self.NZ).mean(axis=0, keepdims=True)) / np.sqrt(self.V + self.eps)",
     "return dLdNZ / np.sqrt(self.V + self.eps)", ("batchnorm_backward",)),
    ("mytorch/optim/sgd.py",
     "            v_W[...] = self.mu * v_W + layer.dLdW\n"
     "            v_b[...] = self.mu * v_b + layer.dLdb.reshape(layer.b.shape)\n"
     "            layer.W -= self.lr * v_W\n"
     "            layer.b -= self.lr * v_b\n",
     "            layer.W -= self.lr * v_W\n"
     "            layer.b -= self.lr * v_b\n"
     "            v_W[...] = self.mu * v_W + layer.dLdW\n"
     "            v_b[...] = self.mu * v_b + layer.dLdb.reshape(layer.b.shape)\n", ("sgd_momentum",)),
    ("mytorch/optim/adam.py",
     "m_hat = m / (1 - self.beta1**self.t)\n                v_hat = v / (1 - self.beta2**self.t)",
     "m_hat = m\n                v_hat = v", ("adam",)),
    ("mytorch/nn/dropout.py", "return X * self.mask / (1 - self.p)", "return X * self.mask", ("dropout",)),
    ("TrainingTester.ipynb", "        optimizer.zero_grad()\n", "", ("train_epoch",)),
    ("TrainingTester.ipynb", "        idx = order[start:start + batch_size]",
     "        idx = rng.permutation(N)[start:start + batch_size]", ("train_epoch",)),
)

# Correct alternatives students really write, the shape of BUGS with nothing to lose:
# (file, reference text, other correct text).  `course mutants hw2 --variants` grades each in
# the reference's place; none may lose a point.
VARIANTS = (
    # Activations with backward(dLdA) only, the common layout's form (hw2 never grades backward()).
    ("mytorch/nn/activation.py", "def backward(self, dLdA: np.ndarray | None = None) -> np.ndarray:",
     "def backward(self, dLdA: np.ndarray) -> np.ndarray:"),
    # scipy imported the other two ways the spec allows.
    ("mytorch/nn/activation.py", "from scipy.special import erf", "import scipy\nerf = scipy.special.erf"),
    ("mytorch/nn/activation.py", "from scipy.special import erf", "from scipy import special\nerf = special.erf"),
    # Softmax's backward through each row's Jacobian, built.
    ("mytorch/nn/activation.py",
     "        return self.A * (dLdA - (dLdA * self.A).sum(axis=1, keepdims=True))",
     "        dLdZ = np.zeros(dLdA.shape)\n"
     "        for i in range(dLdA.shape[0]):\n"
     "            a = self.A[i]\n"
     "            dLdZ[i] = dLdA[i] @ (np.diag(a) - np.outer(a, a))\n"
     "        return dLdZ"),
    # BCE's gradient as two fractions.
    ("mytorch/nn/loss.py", "return (self.A - self.Y) / (self.A * (1 - self.A)) / self.A.size",
     "return (-self.Y / self.A + (1 - self.Y) / (1 - self.A)) / self.A.size"),
    # The variance in one pass, E[Z^2] - M^2, and by np.var.
    ("mytorch/nn/batchnorm.py", "self.V = ((Z - self.M) ** 2).mean(axis=0, keepdims=True)",
     "self.V = (Z * Z).mean(axis=0, keepdims=True) - self.M * self.M"),
    ("mytorch/nn/batchnorm.py", "self.V = ((Z - self.M) ** 2).mean(axis=0, keepdims=True)",
     "self.V = np.var(Z, axis=0, keepdims=True)"),
    # dLdBW and dLdBb with C entries as (C,): the spec grades their values, not their shape.
    ("mytorch/nn/batchnorm.py", "self.dLdBW = (dLdBZ * self.NZ).sum(axis=0, keepdims=True)",
     "self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0)"),
    ("mytorch/nn/batchnorm.py", "self.dLdBb = dLdBZ.sum(axis=0, keepdims=True)", "self.dLdBb = np.sum(dLdBZ, axis=0)"),
    # backward through dLdV and dLdM, as the common layout's handout derives it.
    ("mytorch/nn/batchnorm.py",
     "        return (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)\n"
     "                - self.NZ * (dLdNZ * self.NZ).mean(axis=0, keepdims=True)) / np.sqrt(self.V + self.eps)",
     "        root = np.sqrt(self.V + self.eps)\n"
     "        N, centred = dLdBZ.shape[0], self.NZ * root\n"
     "        dLdV = -0.5 * np.sum(dLdNZ * centred / root**3, axis=0)\n"
     "        dLdM = np.sum(-dLdNZ / root, axis=0) - 2 / N * dLdV * np.sum(centred, axis=0)\n"
     "        return dLdNZ / root + dLdV * 2 / N * centred + dLdM / N"),
    # Momentum with velocities made anew each step, not updated in place.
    ("mytorch/optim/sgd.py",
     "        for layer, v_W, v_b in zip(self.layers, self.v_W, self.v_b):\n"
     "            v_W[...] = self.mu * v_W + layer.dLdW\n"
     "            v_b[...] = self.mu * v_b + layer.dLdb.reshape(layer.b.shape)\n"
     "            layer.W -= self.lr * v_W\n"
     "            layer.b -= self.lr * v_b\n",
     "        for i, layer in enumerate(self.layers):\n"
     "            self.v_W[i] = self.mu * self.v_W[i] + layer.dLdW\n"
     "            self.v_b[i] = self.mu * self.v_b[i] + layer.dLdb\n"
     "            layer.W = layer.W - self.lr * self.v_W[i]\n"
     "            layer.b = layer.b - self.lr * self.v_b[i]\n"),
    # Dropout's mask drawn as uniform numbers above p.
    ("mytorch/nn/dropout.py", "self.mask = np.random.binomial(1, 1 - self.p, size=X.shape)",
     "self.mask = (np.random.rand(*X.shape) >= self.p).astype(float)"),
    # numerical_grad on a flat copy of X's index, one entry at a time.
    ("GradCheckTester.ipynb", "    for i in np.ndindex(X.shape):", "    for i in np.ndindex(*X.shape):"),
    # train_epoch with the batches sliced by count, the loss kept per batch.
    ("TrainingTester.ipynb",
     "    total = 0.0\n"
     "    for start in range(0, N, batch_size):\n"
     "        idx = order[start:start + batch_size]\n",
     "    total = 0.0\n"
     "    for b in range(int(np.ceil(N / batch_size))):\n"
     "        idx = order[b * batch_size:(b + 1) * batch_size]\n"),
)
