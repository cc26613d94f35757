"""The graded checks of hw2 (MyTorch, part 2), one per autograded grade id (declared in assignment.toml).

``run_*`` functions are the only code here that touches the student's work (the
library, or for ``runs="cell"`` checks the namespace of a notebook solution cell);
``ref_*`` functions compute the expected values with PyTorch (float64) or by hand,
and never look at the student's code.  ``run_*`` returns plain arrays only.

The keyword names a hidden case may fix (``check("gelu", seed=3, N=5, C=4)``); a name
left out is drawn from the seed:

=================== =====================================================================
check               keywords
=================== =====================================================================
activations_vjp     N, C
gelu                N, C
softmax             N, C, offset (float, added to every logit: 400 in one hidden case)
bce_forward         N, q
bce_backward        N, q
batchnorm_train     N (>= 2), C, steps (batches, >= 1), alpha (float in (0, 1))
batchnorm_eval      N, C
batchnorm_backward  N (>= 2), C
sgd_momentum        d, h, steps, lr (float), momentum (float)
adam                d, h, steps, lr (float), beta1 (float), beta2 (float)
dropout             N, C, p (float, the rate of the small case)
numerical_grad      n, m, k (arrays of shapes (n,), (m, k), (n, m, k))
train_epoch         N (examples), batch_size, d, q (the stand-in model maps d inputs to q outputs)
=================== =====================================================================
"""
from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np

from coursekit.runtime.checks import (
    Arrays,
    Check,
    Checks,
    Verdict,
    as_array,
    compare_arrays,
    dim,
    from_torch,
    tensor,
    torch_module,
)

checks = Checks()  # the kit finds this assignment's checks here

EPS_BN = 1e-8  # BatchNorm1d's eps, as the handout fixes it

# --- helpers -----------------------------------------------------------------


def _num(shape: Mapping[str, Any], name: str, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return np.array(float(shape[name]) if name in shape else float(rng.uniform(lo, hi)))


def _only(keys: tuple[str, ...], ref):
    return lambda x: {k: v for k, v in ref(x).items() if k in keys}


def _got(out: Mapping[str, Any], name: str) -> np.ndarray:
    """An output by name, as a float array; ValueError says what is wrong with it."""
    if name not in out:
        raise ValueError(f"{name}: missing from the results")
    try:
        return as_array(out[name])
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


# --- activations: the vector-Jacobian product -----------------------------------

ELEMENTWISE = ("Identity", "Sigmoid", "Tanh", "ReLU")


def inputs_activation(rng, shape) -> Arrays:
    N, C = dim(shape, "N", rng, 2, 9), dim(shape, "C", rng, 2, 9)
    Z = 2 * rng.standard_normal((N, C))
    # Exact zeros pin down ReLU's derivative at 0 (0, like PyTorch).
    Z[rng.random((N, C)) < 0.2] = 0.0
    return {"Z": Z, "dLdA": rng.standard_normal((N, C))}


def run_activations_vjp(mt, x: Arrays) -> Arrays:
    out = {}
    for name in ELEMENTWISE:
        f = getattr(mt.nn, name)()
        out[f"A_{name}"] = f.forward(x["Z"].copy())
        # Only backward(dLdA): the spec never grades the hw1 form backward() in hw2 (the common
        # layout has no such form, and correct code written for it must earn every point).
        out[f"dLdZ_{name}"] = f.backward(x["dLdA"].copy())
    return out


def ref_activations_vjp(x: Arrays) -> Arrays:
    torch = torch_module()
    fns = {"Identity": lambda z: z * 1.0, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "ReLU": torch.relu}
    out = {}
    for name in ELEMENTWISE:
        Z = tensor(x["Z"], True)
        A = fns[name](Z)
        A.backward(tensor(x["dLdA"]))
        # The forward output too: Sigmoid returning 1 - sigma has the same (symmetric) derivative.
        out[f"A_{name}"], out[f"dLdZ_{name}"] = from_torch(A), from_torch(Z.grad)
    return out


checks.add(Check("activations_vjp", "Identity, Sigmoid, Tanh, ReLU forward and backward(dLdA)", inputs_activation,
                 run_activations_vjp, ref_activations_vjp))


def run_gelu(mt, x: Arrays) -> Arrays:
    f = mt.nn.GELU()
    A = f.forward(x["Z"].copy())
    return {"A": A, "dLdZ": f.backward(x["dLdA"].copy())}


def ref_gelu(x: Arrays) -> Arrays:
    Z = tensor(x["Z"], True)
    A = torch_module().nn.GELU()(Z)  # the exact GELU (erf), not approximate="tanh"
    A.backward(tensor(x["dLdA"]))
    return {"A": from_torch(A), "dLdZ": from_torch(Z.grad)}


checks.add(Check("gelu", "GELU forward and backward(dLdA)", inputs_activation, run_gelu, ref_gelu))


# Logits a classifier's last layer produces: of order one, or of a few hundred (a confident network,
# inputs not normalised); ``offset`` raises every logit by as much.  The spec's formula and a naive
# exp() both take a few hundred in float64 (exp overflows above 709), a shift by the row maximum with
# the wrong sign does not (it doubles them): a hidden case with offset=400 tells them apart.  Logits
# of 1e3 stay advice (the spec's extreme inputs).
LARGE_LOGITS = 400.0


def inputs_softmax(rng, shape) -> Arrays:
    N, C = dim(shape, "N", rng, 1, 9), dim(shape, "C", rng, 2, 9)
    Z = 3 * rng.standard_normal((N, C)) + float(shape.get("offset", 0.0))
    return {"Z": Z, "dLdA": rng.standard_normal((N, C))}


def run_softmax(mt, x: Arrays) -> Arrays:
    f = mt.nn.Softmax()
    A = f.forward(x["Z"].copy())
    return {"A": A, "dLdZ": f.backward(x["dLdA"].copy())}


def ref_softmax(x: Arrays) -> Arrays:
    Z = tensor(x["Z"], True)
    A = torch_module().softmax(Z, dim=1)
    A.backward(tensor(x["dLdA"]))
    return {"A": from_torch(A), "dLdZ": from_torch(Z.grad)}


def _extreme_logits() -> Arrays:
    return {"Z": np.array([[1e3, 0.0, -1e3], [-1e3, 1e3, 999.0], [5.0, 1e3, 1e3]]),
            "dLdA": np.array([[1.0, -2.0, 0.5], [0.3, 1.0, -1.0], [2.0, 0.0, -0.5]])}


checks.add(Check("softmax", "Softmax forward and backward(dLdA)", inputs_softmax, run_softmax, ref_softmax,
                 advice=(("logits of size 1e3 (subtract each row's maximum before exp)", _extreme_logits),)))

# --- BCELoss ---------------------------------------------------------------------


def inputs_bce(rng, shape) -> Arrays:
    N, q = dim(shape, "N", rng), dim(shape, "q", rng)
    A = 1 / (1 + np.exp(-2 * rng.standard_normal((N, q))))  # probabilities, as a sigmoid layer gives them
    return {"A": A, "Y": rng.integers(0, 2, size=(N, q)).astype(np.float64)}


def _run_bce(backward: bool):
    def run(mt, x: Arrays) -> Arrays:
        loss = mt.nn.BCELoss()
        L = loss.forward(x["A"].copy(), x["Y"].copy())
        return {"dLdA": loss.backward()} if backward else {"L": L}

    return run


def ref_bce(x: Arrays) -> Arrays:
    A = tensor(x["A"], True)
    L = torch_module().nn.BCELoss()(A, tensor(x["Y"]))
    L.backward()
    return {"L": from_torch(L), "dLdA": from_torch(A.grad)}


checks.add(Check("bce_forward", "BCELoss.forward", inputs_bce, _run_bce(False), _only(("L",), ref_bce)))
checks.add(Check("bce_backward", "BCELoss.backward", inputs_bce, _run_bce(True), _only(("dLdA",), ref_bce)))

# --- BatchNorm1d -------------------------------------------------------------------
# Batches at the scale a hidden layer produces: per-feature offsets and spreads, so that
# the statistics matter; BW and Bb set away from ones and zeros, so that they matter too.


# One feature of every batch with C >= 2 is near-constant (a unit that barely varies, as dead or
# saturated units do): its variance is 1 to 10 times eps, so that where eps sits matters by 5 % or
# more -- sqrt(V) + eps, sqrt(V) and sqrt(V - eps) all fail, every case, not by luck of a seed.
# Its centre stays within [-1, 1], so that the one-pass variance E[Z^2] - M^2 (not wrong) still
# agrees with the two-pass one to far inside rtol.
NEAR_CONSTANT = (1.0, 10.0)  # its variance, in units of eps


def _features(rng, N: int, C: int, steps: int) -> tuple[np.ndarray, int, float]:
    """Batches (steps, N, C), and the near-constant feature's index and centre (-1, 0.0 if C < 2)."""
    centre, spread = 2 * rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    Z = centre + spread * rng.standard_normal((steps, N, C))
    if C < 2:
        return Z, -1, 0.0
    j, middle = int(rng.integers(C)), float(rng.uniform(-1.0, 1.0))
    noise = rng.standard_normal((steps, N))
    if N >= 2:  # every batch's own (biased) variance exactly var
        noise = (noise - noise.mean(axis=1, keepdims=True)) / noise.std(axis=1, keepdims=True)
    Z[:, :, j] = middle + np.sqrt(EPS_BN * rng.uniform(*NEAR_CONSTANT)) * noise
    return Z, j, middle


def _affine(rng, C: int) -> Arrays:
    return {"BW": 1 + 0.5 * rng.standard_normal((1, C)), "Bb": 0.5 * rng.standard_normal((1, C))}


def inputs_batchnorm_train(rng, shape) -> Arrays:
    N, C, steps = dim(shape, "N", rng, 2, 13), dim(shape, "C", rng, 1, 9), dim(shape, "steps", rng, 2, 5)
    return {"Z": _features(rng, N, C, steps)[0], **_affine(rng, C), "alpha": _num(shape, "alpha", rng, 0.5, 0.95)}


def _batchnorm(mt, C: int, x: Arrays, **kw):
    bn = mt.nn.BatchNorm1d(C, **kw)
    bn.BW, bn.Bb = x["BW"].copy(), x["Bb"].copy()
    return bn


def run_batchnorm_train(mt, x: Arrays) -> Arrays:
    steps, _, C = x["Z"].shape
    bn = _batchnorm(mt, C, x, alpha=float(x["alpha"]))
    out, BZ = {}, []
    for t in range(steps):
        BZ.append(np.asarray(bn.forward(x["Z"][t].copy()), dtype=np.float64))
        if t == 0:
            out |= {"running_M_1": np.array(bn.running_M, dtype=np.float64),
                    "running_V_1": np.array(bn.running_V, dtype=np.float64)}
    return out | {"BZ": np.stack(BZ), "running_M": bn.running_M, "running_V": bn.running_V}


def ref_batchnorm_train(x: Arrays) -> Arrays:
    F = torch_module().nn.functional
    alpha = float(x["alpha"])
    C = x["Z"].shape[2]
    M_run, V_run = np.zeros((1, C)), np.ones((1, C))
    out, BZ = {}, []
    for t, Z in enumerate(x["Z"]):
        BZ.append(from_torch(F.batch_norm(tensor(Z), None, None, tensor(x["BW"][0]), tensor(x["Bb"][0]),
                                          training=True, eps=EPS_BN)))
        # By hand: PyTorch's running_var takes the unbiased variance, the handout the biased one.
        M_run = alpha * M_run + (1 - alpha) * Z.mean(axis=0, keepdims=True)
        V_run = alpha * V_run + (1 - alpha) * Z.var(axis=0, keepdims=True)
        if t == 0:
            out |= {"running_M_1": M_run, "running_V_1": V_run}
    return out | {"BZ": np.stack(BZ), "running_M": M_run, "running_V": V_run}


RUNNING = frozenset({"running_M_1", "running_V_1", "running_M", "running_V"})  # (1, C) or (C,): not wrong
checks.add(Check("batchnorm_train", "BatchNorm1d.forward, training", inputs_batchnorm_train, run_batchnorm_train,
                 ref_batchnorm_train, flat=RUNNING))


def inputs_batchnorm(rng, shape) -> Arrays:
    N, C = dim(shape, "N", rng, 2, 13), dim(shape, "C", rng, 1, 9)
    batches, j, middle = _features(rng, N, C, 1)
    Z = batches[0]
    running_M, running_V = 2 * rng.standard_normal((1, C)), rng.uniform(0.25, 4.0, (1, C))
    if j >= 0:  # evaluation meets the near-constant feature too: a running variance of a few eps
        running_M[0, j], running_V[0, j] = middle, EPS_BN * rng.uniform(*NEAR_CONSTANT)
    return {"Z": Z, **_affine(rng, C), "dLdBZ": rng.standard_normal((N, C)),
            "running_M": running_M, "running_V": running_V}


def run_batchnorm_eval(mt, x: Arrays) -> Arrays:
    bn = _batchnorm(mt, x["Z"].shape[1], x)
    # Running statistics set directly: evaluation is graded apart from the training statistics.
    bn.running_M, bn.running_V = x["running_M"].copy(), x["running_V"].copy()
    BZ = bn.forward(x["Z"].copy(), eval=True)
    return {"BZ": BZ, "running_M": bn.running_M, "running_V": bn.running_V}


def ref_batchnorm_eval(x: Arrays) -> Arrays:
    F = torch_module().nn.functional
    BZ = F.batch_norm(tensor(x["Z"]), tensor(x["running_M"][0]), tensor(x["running_V"][0]),
                      tensor(x["BW"][0]), tensor(x["Bb"][0]), training=False, eps=EPS_BN)
    return {"BZ": from_torch(BZ), "running_M": x["running_M"], "running_V": x["running_V"]}  # unchanged


checks.add(Check("batchnorm_eval", "BatchNorm1d.forward, eval=True", inputs_batchnorm, run_batchnorm_eval,
                 ref_batchnorm_eval, flat=frozenset({"running_M", "running_V"})))


def run_batchnorm_backward(mt, x: Arrays) -> Arrays:
    bn = _batchnorm(mt, x["Z"].shape[1], x)
    bn.forward(x["Z"].copy())
    dLdZ = bn.backward(x["dLdBZ"].copy())
    return {"dLdZ": dLdZ, "dLdBW": bn.dLdBW, "dLdBb": bn.dLdBb}


def ref_batchnorm_backward(x: Arrays) -> Arrays:
    F = torch_module().nn.functional
    Z, W, b = tensor(x["Z"], True), tensor(x["BW"][0], True), tensor(x["Bb"][0], True)
    F.batch_norm(Z, None, None, W, b, training=True, eps=EPS_BN).backward(tensor(x["dLdBZ"]))
    return {"dLdZ": from_torch(Z.grad), "dLdBW": from_torch(W.grad), "dLdBb": from_torch(b.grad)}


checks.add(Check("batchnorm_backward", "BatchNorm1d.backward", inputs_batchnorm, run_batchnorm_backward,
                 ref_batchnorm_backward, flat=frozenset({"dLdBW", "dLdBb"})))

# --- optimisers ------------------------------------------------------------------------
# Plain objects stand in for Linear (a broken Linear costs no optimiser points): a model
# with two layers, a new gradient before every step, W and b recorded after every step.
# zero_grad() is not called: code written for the layout without it is graded alike.


def _inputs_optimiser(rng, shape) -> Arrays:
    d, h, steps = dim(shape, "d", rng, 1, 7), dim(shape, "h", rng, 1, 7), dim(shape, "steps", rng, 2, 6)
    x = {}
    for i, (m, n) in enumerate([(d, h), (h, d)]):
        x |= {f"W{i}": rng.standard_normal((m, n)), f"b{i}": rng.standard_normal(n),
              f"dLdW{i}": rng.standard_normal((steps, m, n)), f"dLdb{i}": rng.standard_normal((steps, n))}
    return x


def inputs_sgd(rng, shape) -> Arrays:
    x = _inputs_optimiser(rng, shape)
    return x | {"lr": _num(shape, "lr", rng, 0.01, 0.5), "momentum": _num(shape, "momentum", rng, 0.5, 0.95)}


# Adam's eps matters only where |gradient| is near it.  Every case has a nearly dead unit in the
# first layer (its gradients of size 1e-9 to 1e-7 at every step: eps / (|g| + eps) is 9 % to 91 %
# of the step, i.e. 9e-5 or more in W at lr 0.001, where the tolerance is ~1e-6) and, when there
# are two or more, a dead unit in the second (gradient exactly 0: a dropped eps divides 0 by 0).
TINY_GRADIENT = (-9.0, -7.0)  # log10 of the nearly dead unit's gradient sizes


def inputs_adam(rng, shape) -> Arrays:
    x = _inputs_optimiser(rng, shape)
    steps, d, h = x["dLdW0"].shape
    j = int(rng.integers(h))
    for name, size in (("dLdW0", (steps, d)), ("dLdb0", (steps,))):
        x[name][..., j] = rng.choice((-1.0, 1.0), size) * 10 ** rng.uniform(*TINY_GRADIENT, size)
    if d >= 2:
        k = int(rng.integers(d))
        x["dLdW1"][..., k], x["dLdb1"][..., k] = 0.0, 0.0
    # A learning rate above the default 0.001, so that every step moves W visibly.
    return x | {"lr": _num(shape, "lr", rng, 0.005, 0.1), "beta1": np.array(float(shape.get("beta1", 0.9))),
                "beta2": np.array(float(shape.get("beta2", 0.999)))}


def _run_optimiser(make):
    def run(mt, x: Arrays) -> Arrays:
        layers = [SimpleNamespace(W=x[f"W{i}"].copy(), b=x[f"b{i}"].copy(), dLdW=np.zeros_like(x[f"W{i}"]),
                                  dLdb=np.zeros_like(x[f"b{i}"])) for i in range(2)]
        opt = make(mt, SimpleNamespace(layers=layers), x)
        seen: dict[str, list] = {f"{p}{i}": [] for i in range(2) for p in "Wb"}
        for t in range(x["dLdW0"].shape[0]):
            for i, layer in enumerate(layers):  # what backward would leave behind
                layer.dLdW, layer.dLdb = x[f"dLdW{i}"][t].copy(), x[f"dLdb{i}"][t].copy()
            opt.step()
            for i, layer in enumerate(layers):
                seen[f"W{i}"].append(np.array(layer.W, dtype=np.float64))
                seen[f"b{i}"].append(np.array(layer.b, dtype=np.float64).reshape(-1))
        return {k: np.stack(v) for k, v in seen.items()}

    return run


def _ref_optimiser(make):
    def ref(x: Arrays) -> Arrays:
        params = {f"{p}{i}": tensor(x[f"{p}{i}"], True) for i in range(2) for p in "Wb"}
        opt = make(torch_module().optim, list(params.values()), x)
        seen: dict[str, list] = {k: [] for k in params}
        for t in range(x["dLdW0"].shape[0]):
            for k, p in params.items():
                p.grad = tensor(x[f"dLd{k}"][t])
            opt.step()
            for k, p in params.items():
                seen[k].append(from_torch(p))
        return {k: np.stack(v) for k, v in seen.items()}

    return ref


checks.add(Check(
    "sgd_momentum", "SGD.step with momentum", inputs_sgd,
    _run_optimiser(lambda mt, model, x: mt.optim.SGD(model, lr=float(x["lr"]), momentum=float(x["momentum"]))),
    _ref_optimiser(lambda optim, params, x: optim.SGD(params, lr=float(x["lr"]), momentum=float(x["momentum"]))),
    flat=frozenset({"b0", "b1"})))
checks.add(Check(
    "adam", "Adam.step", inputs_adam,
    _run_optimiser(lambda mt, model, x: mt.optim.Adam(model, lr=float(x["lr"]), beta1=float(x["beta1"]),
                                                      beta2=float(x["beta2"]), eps=1e-8)),
    _ref_optimiser(lambda optim, params, x: optim.Adam(params, lr=float(x["lr"]),
                                                       betas=(float(x["beta1"]), float(x["beta2"])), eps=1e-8)),
    flat=frozenset({"b0", "b1"})))

# --- Dropout -------------------------------------------------------------------------------
# Any random source is allowed, so dropout is graded on properties, not values: a small
# batch (values kept are X/(1-p), backward uses the same mask, eval is the identity) and,
# for several rates, a large batch of ones whose kept fraction must be near 1 - p.

DROPOUT_RATES = (0.1, 0.3, 0.5, 0.8)
LARGE = (200, 200)  # 40 000 entries per rate
# The kept fraction may differ from 1 - p by at most SIGMAS binomial standard deviations,
# sqrt(p (1 - p) / n): a correct Dropout fails one rate's bound with probability about
# 3e-12 (the exact binomial tails, n = 40 000, for each of the rates above), i.e. never;
# keeping p instead of 1 - p (the same only at p = 0.5) misses by 0.4 or more at the other rates,
# 175 to 530 standard deviations.
SIGMAS = 7.0


# The upstream gradient of the large batches: not constant, so that backward must use it.
LARGE_UPSTREAM = 1.0 + np.arange(LARGE[0] * LARGE[1], dtype=np.float64).reshape(LARGE) % 7


def inputs_dropout(rng, shape) -> Arrays:
    N, C = dim(shape, "N", rng, 4, 13), dim(shape, "C", rng, 4, 13)
    return {"X": rng.standard_normal((N, C)), "dLdY": rng.standard_normal((N, C)),
            "p": _num(shape, "p", rng, 0.2, 0.6)}


def run_dropout(mt, x: Arrays) -> Arrays:
    layer = mt.nn.Dropout(p=float(x["p"]))
    out = {"Y": layer.forward(x["X"].copy())}
    out["dLdX"] = layer.backward(x["dLdY"].copy())
    out["Y_eval"] = layer.forward(x["X"].copy(), train=False)
    for k, p in enumerate(DROPOUT_RATES):
        layer = mt.nn.Dropout(p=p)
        out[f"Y_large{k}"] = layer.forward(np.ones(LARGE))
        out[f"dLdX_large{k}"] = layer.backward(LARGE_UPSTREAM.copy())
    return out


def _dropout_batch(Y: np.ndarray, dLdX: np.ndarray, X: np.ndarray, dLdY: np.ndarray, p: float,
                   where: str) -> str:
    """"" if Y and dLdX are a dropout of X and dLdY with one mask at rate p, else what is wrong."""
    for name, got in (("output", Y), ("backward", dLdX)):
        if got.shape != X.shape:
            return f"{where}: {name} has shape {got.shape}, expected {X.shape}"
        if not np.isfinite(got).all():
            return f"{where}: {name} contains nan or inf"
    kept = Y != 0
    scaled = np.isclose(Y, X / (1 - p), rtol=1e-6, atol=1e-8)
    if not (scaled | ~kept).all():
        k = np.argwhere(kept & ~scaled)[0]
        return (f"{where}: an entry kept must be X / (1 - p) = {X[tuple(k)] / (1 - p):.6g}, "
                f"got {Y[tuple(k)]:.6g} (X = {X[tuple(k)]:.6g}, p = {p:g})")
    want = np.where(kept, dLdY / (1 - p), 0.0)
    if not np.allclose(dLdX, want, rtol=1e-6, atol=1e-8):
        return f"{where}: backward must return dLdY * mask / (1 - p) with the mask of the last forward"
    return ""


def compare_dropout(out: Arrays, x: Arrays) -> Verdict:
    try:
        X, p = x["X"], float(x["p"])
        why = _dropout_batch(_got(out, "Y"), _got(out, "dLdX"), X, x["dLdY"], p, f"p = {p:g}")
        if why:
            return Verdict(False, why)
        Y_eval = _got(out, "Y_eval")
        if Y_eval.shape != X.shape or not np.array_equal(Y_eval, X):
            return Verdict(False, "forward(X, train=False) must return X unchanged")
        fractions = []
        for k, rate in enumerate(DROPOUT_RATES):
            Y = _got(out, f"Y_large{k}")
            where = f"p = {rate:g}, a batch of ones {LARGE[0]}x{LARGE[1]}"
            why = _dropout_batch(Y, _got(out, f"dLdX_large{k}"), np.ones(LARGE), LARGE_UPSTREAM, rate, where)
            if why:
                return Verdict(False, why)
            kept, n = np.count_nonzero(Y) / Y.size, Y.size
            bound = SIGMAS * np.sqrt(rate * (1 - rate) / n)
            if abs(kept - (1 - rate)) > bound:
                return Verdict(False, f"{where}: kept {kept:.4f} of the entries, expected 1 - p = {1 - rate:g} "
                                      f"(within {bound:.4f})")
            fractions.append(f"{kept:.3f}")
    except ValueError as exc:
        return Verdict(False, str(exc))
    return Verdict(True, f"kept X/(1-p), same mask in backward, identity in eval; kept fractions "
                         f"{', '.join(fractions)} for p = {', '.join(f'{r:g}' for r in DROPOUT_RATES)}")


checks.add(Check("dropout", "Dropout forward, backward and eval", inputs_dropout, run_dropout,
                 compare=compare_dropout))

# --- numerical gradients (notebook code) -----------------------------------------------------
# Three smooth scalar functions of arrays of three shapes, built inside run from the inputs:
#   f1(x) = sum(a * sin(3 x))                          x: (n,)
#   f2(X) = 0.5 * ||X M||^2                            X: (m, k)
#   f3(X) = log sum exp(A * X) + 2 sum((X - C)^2)      X: (n, m, k), C = X + 0.001 noise
# Tolerance (rtol 1e-5, atol 1e-6): the central difference with eps = 1e-6 is off by
# eps^2 |f'''| / 6 ~ 1e-12 (truncation) plus the rounding of f, at most ~ n ulp |f| / eps
# ~ 1e-8 here: a hundred times inside.  A forward difference is off by eps |f''| / 2, and
# f3's bowl (f'' = 4 in every entry, gradient near 0) makes that 2e-6: it fails, as it should.
# X must be unchanged afterwards to 1e-10 (restoring by adding eps back leaves at most a few ulp;
# forgetting to leaves eps).

NG_RTOL, NG_ATOL, NG_UNCHANGED = 1e-5, 1e-6, 1e-10


def inputs_numerical_grad(rng, shape) -> Arrays:
    n, m, k = dim(shape, "n", rng, 2, 9), dim(shape, "m", rng, 2, 6), dim(shape, "k", rng, 2, 6)
    X3 = rng.standard_normal((n, m, k))
    return {"x1": rng.standard_normal(n), "a": rng.standard_normal(n),
            "X2": rng.standard_normal((m, k)), "M": rng.standard_normal((k, k)) / np.sqrt(k),
            "X3": X3, "A": rng.standard_normal((n, m, k)), "C": X3 + 1e-3 * rng.standard_normal((n, m, k))}


def run_numerical_grad(nb, x: Arrays) -> Arrays:
    a, M, A, C = x["a"].copy(), x["M"].copy(), x["A"].copy(), x["C"].copy()
    functions = {
        "1": lambda X: float(np.sum(a * np.sin(3 * X))),
        "2": lambda X: 0.5 * float(np.sum((X @ M) ** 2)),
        "3": lambda X: float(np.log(np.sum(np.exp(A * X)))) + 2.0 * float(np.sum((X - C) ** 2)),
    }
    out = {}
    for key, name in (("1", "x1"), ("2", "X2"), ("3", "X3")):
        X = x[name].copy()
        out[f"grad{key}"] = nb.numerical_grad(functions[key], X)
        out[f"{name}_after"] = X
    return out


def ref_numerical_grad(x: Arrays) -> Arrays:
    e = np.exp(x["A"] * x["X3"])
    return {"grad1": 3 * x["a"] * np.cos(3 * x["x1"]),
            "grad2": x["X2"] @ x["M"] @ x["M"].T,
            "grad3": x["A"] * e / e.sum() + 4 * (x["X3"] - x["C"]),
            "x1_after": x["x1"], "X2_after": x["X2"], "X3_after": x["X3"]}


def compare_numerical_grad(out: Arrays, x: Arrays) -> Verdict:
    ref = ref_numerical_grad(x)
    grads = {k: v for k, v in ref.items() if k.startswith("grad")}
    verdict = compare_arrays(out, grads, rtol=NG_RTOL, atol=NG_ATOL)
    if not verdict.ok:
        return verdict
    after = {k: v for k, v in ref.items() if k.endswith("_after")}
    unchanged = compare_arrays(out, after, rtol=0.0, atol=NG_UNCHANGED)
    if not unchanged.ok:
        return Verdict(False, f"X must be unchanged afterwards; {unchanged.message}")
    return Verdict(True, f"matches the analytic gradients (rtol {NG_RTOL:g}, atol {NG_ATOL:g}); X unchanged")


checks.add(Check("numerical_grad", "numerical_grad (central differences)", inputs_numerical_grad,
                 run_numerical_grad, ref_numerical_grad, compare=compare_numerical_grad, runs="cell"))

# --- the training loop (notebook code) ---------------------------------------------------------
# Recording stand-ins for model, criterion and optimiser, so that the check does not depend
# on the student's library: the model is X W, the criterion a mean squared error; every call
# is logged, with the arrays each call received.

CALLS = ("optimizer.zero_grad", "model.forward", "criterion.forward", "criterion.backward", "model.backward",
         "optimizer.step")
ZERO_GRAD, FORWARD, LOSS_FORWARD, LOSS_BACKWARD, MODEL_BACKWARD, STEP = range(len(CALLS))


def inputs_train_epoch(rng, shape) -> Arrays:
    batch = dim(shape, "batch_size", rng, 2, 7)
    # At least three batches, the last one smaller.
    if "N" in shape:
        N = int(shape["N"])
    else:
        N = int(rng.integers(2, 5)) * batch + (int(rng.integers(1, batch)) if batch > 1 else 0)
    d, q = dim(shape, "d", rng, 2, 6), dim(shape, "q", rng, 1, 4)
    return {"X": rng.standard_normal((N, d)), "Y": rng.standard_normal((N, q)), "W": rng.standard_normal((d, q)),
            "batch_size": np.array(batch), "seed": np.array(int(rng.integers(0, 2**31)))}


def run_train_epoch(nb, x: Arrays) -> Arrays:
    W = x["W"].copy()
    calls: list[int] = []
    seen: dict[str, list] = {"X_seen": [], "out_seen": [], "Y_seen": [], "dLdout_seen": []}

    def record(call: int, **arrays) -> None:
        calls.append(call)
        for name, value in arrays.items():
            seen[name].append(np.array(value, dtype=np.float64, ndmin=2))

    class Model:
        def forward(self, Xb):
            record(FORWARD, X_seen=Xb)
            return np.asarray(Xb, dtype=np.float64) @ W

        def backward(self, dLdout):
            record(MODEL_BACKWARD, dLdout_seen=dLdout)
            return np.asarray(dLdout, dtype=np.float64) @ W.T

    class Criterion:
        def forward(self, out, Yb):
            record(LOSS_FORWARD, out_seen=out, Y_seen=Yb)
            self.diff = np.asarray(out, dtype=np.float64) - np.asarray(Yb, dtype=np.float64)
            return float(np.mean(self.diff ** 2))

        def backward(self):
            record(LOSS_BACKWARD)
            return 2 * self.diff / self.diff.size

    class Optimizer:
        def zero_grad(self):
            record(ZERO_GRAD)

        def step(self):
            record(STEP)

    rng = np.random.default_rng(int(x["seed"]))
    loss = nb.train_epoch(Model(), Criterion(), Optimizer(), x["X"].copy(), x["Y"].copy(), int(x["batch_size"]), rng)
    width = {"X_seen": x["X"].shape[1], "out_seen": W.shape[1], "Y_seen": W.shape[1], "dLdout_seen": W.shape[1]}
    out = {name: np.concatenate(rows) if rows else np.zeros((0, width[name])) for name, rows in seen.items()}
    return out | {"calls": np.array(calls, dtype=np.float64), "loss": loss}


def ref_train_epoch(x: Arrays) -> Arrays:
    X, Y, W, batch = x["X"], x["Y"], x["W"], int(x["batch_size"])
    order = np.random.default_rng(int(x["seed"])).permutation(len(X))  # once per epoch
    outs, dLdouts, total = [], [], 0.0
    for start in range(0, len(X), batch):
        idx = order[start:start + batch]
        diff = X[idx] @ W - Y[idx]
        outs.append(X[idx] @ W)
        dLdouts.append(2 * diff / diff.size)
        total += np.mean(diff ** 2) * len(idx)
    steps = len(outs)
    return {"calls": np.tile(np.arange(len(CALLS), dtype=np.float64), steps), "X_seen": X[order],
            "out_seen": np.concatenate(outs), "Y_seen": Y[order], "dLdout_seen": np.concatenate(dLdouts),
            "loss": np.array(total / len(X))}


def _call_names(codes: np.ndarray) -> str:
    return ", ".join(CALLS[int(c)] if 0 <= c < len(CALLS) and c == int(c) else "?" for c in codes)


def compare_train_epoch(out: Arrays, x: Arrays) -> Verdict:
    ref = ref_train_epoch(x)
    try:
        calls = _got(out, "calls").reshape(-1)
    except ValueError as exc:
        return Verdict(False, str(exc))
    want, per = ref["calls"], len(CALLS)
    if calls.shape != want.shape or not np.array_equal(calls, want):
        for b in range(0, max(len(calls), len(want)), per):
            if not np.array_equal(calls[b:b + per], want[b:b + per]):
                got = _call_names(calls[b:b + per]) or "nothing"
                return Verdict(False, f"batch {b // per + 1} of {len(want) // per}: the calls were {got}; "
                                      f"expected exactly {_call_names(want[:per])}")
    names = {"X_seen": "the batches model.forward saw (consecutive slices of one rng.permutation(len(X)))",
             "out_seen": "what criterion.forward got as the model's output",
             "Y_seen": "the targets criterion.forward got",
             "dLdout_seen": "what model.backward got (criterion.backward's result)",
             "loss": "the returned loss (the mean over examples: sum of loss * batch size / N)"}
    for name, what in names.items():
        verdict = compare_arrays(out, {name: ref[name]})
        if not verdict.ok:
            return Verdict(False, f"{what}: {verdict.message}")
    return Verdict(True, "calls in order, the right batches, the example-weighted mean loss")


checks.add(Check("train_epoch", "train_epoch (one epoch of minibatch training)", inputs_train_epoch,
                 run_train_epoch, ref_train_epoch, compare=compare_train_epoch, runs="cell"))

# --- the visible (fixture) case of each check ----------------------------------------------------

FIXTURE_SEED = 11785
VISIBLE = {
    "activations_vjp": {"N": 4, "C": 5},
    "gelu": {"N": 4, "C": 5},
    "softmax": {"N": 4, "C": 5},
    "bce_forward": {"N": 5, "q": 3},
    "bce_backward": {"N": 5, "q": 3},
    "batchnorm_train": {"N": 6, "C": 3, "steps": 3, "alpha": 0.9},
    "batchnorm_eval": {"N": 6, "C": 3},
    "batchnorm_backward": {"N": 6, "C": 3},
    "sgd_momentum": {"d": 3, "h": 2, "steps": 3, "lr": 0.1, "momentum": 0.9},
    "adam": {"d": 3, "h": 2, "steps": 3, "lr": 0.01},
    "dropout": {"N": 4, "C": 6, "p": 0.5},
    "numerical_grad": {"n": 4, "m": 3, "k": 2},
    "train_epoch": {"N": 10, "batch_size": 4, "d": 3, "q": 2},
}


def fixture_inputs(grade_id: str, base: Arrays) -> Arrays:
    """Visible inputs: small shapes a student can read, one seed for all."""
    return checks[grade_id].inputs(FIXTURE_SEED, **VISIBLE[grade_id])
