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
* Softmax without the row maximum subtracted: nothing (graded inputs are at the scale a network
  sees; only the advice, with logits of 1e3, tells).
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
