"""The graded checks of hw1 (MyTorch), one per grade id (declared in assignment.toml).

``run_*`` functions are the only code here that touches the student's
library; ``ref_*`` functions compute the expected values with PyTorch
(float64) or by hand, and never look at the student's code.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from coursekit.runtime.checks import (NOT_NUMERIC, WRONG_SHAPE, Arrays, Check, Checks, Verdict, as_array,
                                      compare_arrays, dim, from_torch, shape_cause, tensor, torch_module)

checks = Checks()  # the kit finds this assignment's checks here

# --- helpers -----------------------------------------------------------------


def _set(layer: Any, W: np.ndarray, b: np.ndarray) -> None:
    layer.W = W.copy()
    layer.b = b.copy()


def _one_hot(rng: np.random.Generator, n: int, q: int) -> np.ndarray:
    return np.eye(q)[rng.integers(0, q, size=n)]


# --- Linear --------------------------------------------------------------------


def inputs_linear_init(rng, shape) -> Arrays:
    # Large enough that the sample moments pin down mean, variance and shape.
    return {"d": np.array(dim(shape, "d", rng, 200, 300)), "h": np.array(dim(shape, "h", rng, 400, 600)),
            "seed": np.array(int(rng.integers(0, 2**31)))}


def run_linear_init(mt, x: Arrays) -> Arrays:
    np.random.seed(int(x["seed"]))
    layer = mt.nn.Linear(int(x["d"]), int(x["h"]))
    return {"W": layer.W, "b": layer.b}


def bias_shapes(h: int) -> tuple[tuple[int, ...], ...]:
    """The shapes a new Linear's b may have: the spec's (h,), or the row (1, h) it calls not wrong."""
    return ((h,), (1, h))


def compare_linear_init(out: Arrays, x: Arrays) -> Verdict:
    d, h = int(x["d"]), int(x["h"])
    try:
        W, b = as_array(out.get("W")), as_array(out.get("b"))
    except ValueError as exc:
        return Verdict(False, f"W or b: {exc}", "not numeric")
    if W.shape != (d, h):
        return Verdict(False, f"W: shape {W.shape}, expected {(d, h)} (inputs x outputs)", "W: wrong shape")
    # A column (h, 1) has the right zeros but makes A W + b (h, h), or fail, in real training.
    if b.shape not in bias_shapes(h):
        why, category = shape_cause(b.shape, (h,))
        return Verdict(False, f"b: shape {b.shape}, expected {(h,)} (or the row {(1, h)}){why}", f"b: {category}")
    if np.any(b != 0):
        return Verdict(False, f"b: expected {h} zeros, got {np.count_nonzero(b)} non-zero", "b: wrong values")
    n = W.size
    mean, std = W.mean(), W.std()
    kurtosis = np.mean((W - mean) ** 4) / std**4 if std > 0 else 0.0
    # Bounds are ~10 standard errors wide: a correct init never fails them.
    if abs(mean) > 10 * 0.1 / np.sqrt(n):
        return Verdict(False, f"W: mean {mean:.4f}, expected 0", "W: wrong values")
    if abs(std - 0.1) > 10 * 0.1 / np.sqrt(2 * n):
        return Verdict(False, f"W: standard deviation {std:.4f}, expected 0.1 (variance 0.01)", "W: wrong values")
    if abs(kurtosis - 3) > 10 * np.sqrt(24 / n):
        return Verdict(False, f"W: kurtosis {kurtosis:.2f}, a normal distribution has 3", "W: wrong values")
    return Verdict(True, f"W: mean {mean:.4f}, std {std:.4f}, normal-shaped; b zeros")


checks.add(Check("linear_init", "Linear.__init__", inputs_linear_init, run_linear_init,
               compare=compare_linear_init))


def inputs_linear(rng, shape) -> Arrays:
    N, d, h = dim(shape, "N", rng), dim(shape, "d", rng), dim(shape, "h", rng)
    return {"A": rng.standard_normal((N, d)), "W": rng.standard_normal((d, h)),
            "b": rng.standard_normal(h), "dLdO": rng.standard_normal((N, h))}


def run_linear_forward(mt, x: Arrays) -> Arrays:
    layer = mt.nn.Linear(*x["W"].shape)
    _set(layer, x["W"], x["b"])
    return {"O": layer.forward(x["A"].copy())}


def run_linear_backward(mt, x: Arrays) -> Arrays:
    layer = mt.nn.Linear(*x["W"].shape)
    _set(layer, x["W"], x["b"])
    layer.forward(x["A"].copy())
    dLdA = layer.backward(x["dLdO"].copy())
    return {"dLdA": dLdA, "dLdW": layer.dLdW, "dLdb": layer.dLdb}


def ref_linear(x: Arrays) -> Arrays:
    A, W, b = tensor(x["A"], True), tensor(x["W"], True), tensor(x["b"], True)
    O = A @ W + b
    O.backward(tensor(x["dLdO"]))
    return {"O": from_torch(O), "dLdA": from_torch(A.grad), "dLdW": from_torch(W.grad), "dLdb": from_torch(b.grad)}


def _only(keys: tuple[str, ...], ref):
    return lambda x: {k: v for k, v in ref(x).items() if k in keys}


checks.add(Check("linear_forward", "Linear.forward", inputs_linear, run_linear_forward,
               _only(("O",), ref_linear)))
checks.add(Check("linear_backward", "Linear.backward", inputs_linear, run_linear_backward,
               _only(("dLdA", "dLdW", "dLdb"), ref_linear), flat=frozenset({"dLdb"})))

# --- losses ----------------------------------------------------------------------


# Logits a network can meet: of order one, or of a few hundred (a confident classifier, inputs not
# normalised); ``offset`` raises every logit by as much.  A naive exp() takes a few hundred in float64
# (it overflows above 709), a shift by the row maximum with the wrong sign does not (it doubles them):
# a hidden case with offset=400 tells the two apart.  Logits of 1e3 stay advice (the spec's extreme inputs).
LARGE_LOGITS = 400.0


def inputs_loss(rng, shape) -> Arrays:
    N, q = dim(shape, "N", rng), dim(shape, "q", rng, 2, 9)
    return {"O": 2 * rng.standard_normal((N, q)) + float(shape.get("offset", 0.0)), "Y": _one_hot(rng, N, q)}


def _run_loss(name: str, backward: bool):
    def run(mt, x: Arrays) -> Arrays:
        loss = getattr(mt.nn, name)()
        L = loss.forward(x["O"].copy(), x["Y"].copy())
        return {"dLdO": loss.backward()} if backward else {"L": L}

    return run


def _ref_loss(torch_loss: str):
    def ref(x: Arrays) -> Arrays:
        O = tensor(x["O"], True)
        L = getattr(torch_module().nn, torch_loss)()(O, tensor(x["Y"]))
        L.backward()
        return {"L": from_torch(L), "dLdO": from_torch(O.grad)}

    return ref


def _extreme_logits() -> Arrays:
    return {"O": np.array([[1e3, 0.0, -1e3], [-1e3, 1e3, 5.0]]), "Y": np.eye(3)[[0, 2]]}


for _gid, _cls, _torch_name, _advice in [
    ("mse", "MSELoss", "MSELoss", ()),
    ("ce", "CrossEntropyLoss", "CrossEntropyLoss", (("logits of size 1e3", _extreme_logits),)),
]:
    checks.add(Check(f"{_gid}_forward", f"{_cls}.forward", inputs_loss, _run_loss(_cls, False),
                   _only(("L",), _ref_loss(_torch_name)), advice=_advice))
    checks.add(Check(f"{_gid}_backward", f"{_cls}.backward", inputs_loss, _run_loss(_cls, True),
                   _only(("dLdO",), _ref_loss(_torch_name)), advice=_advice))

# --- SGD ---------------------------------------------------------------------------


def inputs_sgd(rng, shape) -> Arrays:
    d, h = dim(shape, "d", rng), dim(shape, "h", rng)
    x = {"lr": np.array(float(shape.get("lr", rng.uniform(0.01, 0.5))))}
    # Three layers: one optimised alone, two inside a model with a `layers` list.
    for i, (m, n) in enumerate([(d, h), (d, h), (h, d)]):
        x |= {f"W{i}": rng.standard_normal((m, n)), f"b{i}": rng.standard_normal(n),
              f"dLdW{i}": rng.standard_normal((m, n)), f"dLdb{i}": rng.standard_normal(n)}
    return x


def run_sgd_step(mt, x: Arrays) -> Arrays:
    # Plain objects stand in for Linear, so a broken Linear does not cost SGD's points.
    layers = [SimpleNamespace(W=x[f"W{i}"].copy(), b=x[f"b{i}"].copy()) for i in range(3)]
    lr = float(x["lr"])
    optimisers = [mt.optim.SGD(layers[0], lr=lr), mt.optim.SGD(SimpleNamespace(layers=layers[1:]), lr=lr)]
    for opt in optimisers:
        opt.zero_grad()
    for i, layer in enumerate(layers):  # what backward would leave behind
        layer.dLdW, layer.dLdb = x[f"dLdW{i}"].copy(), x[f"dLdb{i}"].copy()
    for opt in optimisers:
        opt.step()
    return {k: v for i, layer in enumerate(layers) for k, v in ((f"W{i}", layer.W), (f"b{i}", layer.b))}


def ref_sgd_step(x: Arrays) -> Arrays:
    lr = float(x["lr"])
    return {f"{p}{i}": x[f"{p}{i}"] - lr * x[f"dLd{p}{i}"] for i in range(3) for p in "Wb"}


checks.add(Check("sgd_step", "SGD.step", inputs_sgd, run_sgd_step, ref_sgd_step,
               flat=frozenset({"b0", "b1", "b2"})))

# --- activations ---------------------------------------------------------------------


def inputs_activation(rng, shape) -> Arrays:
    N, q = dim(shape, "N", rng), dim(shape, "q", rng)
    H = 2 * rng.standard_normal((N, q))
    # Exact zeros pin down ReLU's derivative at 0.
    H[rng.random((N, q)) < 0.2] = 0.0
    return {"H": H}


def _run_activation(name: str):
    def run(mt, x: Arrays) -> Arrays:
        f = getattr(mt.nn, name)()
        A = f.forward(x["H"].copy())
        return {"A": A, "dAdH": f.backward()}

    return run


def _ref_activation(fn: str):
    def ref(x: Arrays) -> Arrays:
        H = tensor(x["H"], True)
        A = getattr(torch_module(), fn)(H)
        A.sum().backward()
        return {"A": from_torch(A), "dAdH": from_torch(H.grad)}

    return ref


def _extreme_sigmoid() -> Arrays:
    return {"H": np.array([[-1e3, -50.0, 0.0, 50.0, 1e3]])}


for _gid, _cls, _advice in [("sigmoid", "Sigmoid", (("inputs of -1e3 and 1e3", _extreme_sigmoid),)),
                            ("tanh", "Tanh", (("inputs of -1e3 and 1e3", _extreme_sigmoid),)),
                            ("relu", "ReLU", ())]:
    checks.add(Check(_gid, f"{_cls}.forward and backward", inputs_activation, _run_activation(_cls),
                   _ref_activation(_gid), advice=_advice))

# --- MLPs -------------------------------------------------------------------------------

MLP_DEPTH = {"MLP0": 1, "MLP1": 2, "MLP4": 5}


def _inputs_mlp(model: str):
    def make(rng, shape) -> Arrays:
        N, d, h, o = (dim(shape, k, rng, 2, 9) for k in ("N", "d", "h", "o"))
        depth = MLP_DEPTH[model]
        sizes = [d] + [h] * (depth - 1) + [o]
        x = {"X": rng.standard_normal((N, d)), "dLdA": rng.standard_normal((N, o)), "h": np.array(h)}
        for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
            x[f"W{i}"] = rng.standard_normal((m, n)) / np.sqrt(m)
            x[f"b{i}"] = 0.5 * rng.standard_normal(n)
        return x

    return make


def mlp_sizes(model: str, x: Arrays) -> list[tuple[int, int]]:
    """(inputs, outputs) of each Linear the spec gives ``model`` for these inputs."""
    d, o, h = x["X"].shape[1], x["dLdA"].shape[1], int(x["h"])
    sizes = [d] + [h] * (MLP_DEPTH[model] - 1) + [o]
    return list(zip(sizes[:-1], sizes[1:]))


def _shape_of(value: Any) -> np.ndarray:
    return np.array(np.shape(value), dtype=np.float64)


def _run_mlp(model: str):
    def run(mt, x: Arrays) -> Arrays:
        depth = MLP_DEPTH[model]
        d, o = x["X"].shape[1], x["dLdA"].shape[1]
        cls = getattr(mt.models, model)
        net = cls(d, o) if model == "MLP0" else cls(d, o, int(x["h"]))
        if len(net.layers) != depth:
            raise ValueError(f"{model} has {len(net.layers)} layers, expected {depth}")
        # The shapes the model built, before the check overwrites every W and b (a layer of the
        # wrong size, a slice off by one, would otherwise never show), next to those the student's
        # own Linear(m, n) makes: W's orientation is linear_init's to grade, the sizes are the model's.
        out = {}
        for i, (layer, (m, n)) in enumerate(zip(net.layers, mlp_sizes(model, x))):
            out[f"built_W{i}"] = _shape_of(getattr(layer, "W", None))
            out[f"spec_W{i}"] = _shape_of(getattr(mt.nn.Linear(m, n), "W", None))
        for i, layer in enumerate(net.layers):
            _set(layer, x[f"W{i}"], x[f"b{i}"])
        out["A"] = net.forward(x["X"].copy())
        net.backward(x["dLdA"].copy())
        for i, layer in enumerate(net.layers):
            out[f"dLdW{i}"], out[f"dLdb{i}"] = layer.dLdW, layer.dLdb
        return out

    return run


def _ref_mlp(model: str):
    def ref(x: Arrays) -> Arrays:
        torch = torch_module()
        depth = MLP_DEPTH[model]
        Ws = [tensor(x[f"W{i}"], True) for i in range(depth)]
        bs = [tensor(x[f"b{i}"], True) for i in range(depth)]
        A = tensor(x["X"])
        for i in range(depth):
            A = A @ Ws[i] + bs[i]
            if i < depth - 1:
                A = torch.relu(A)
        A.backward(tensor(x["dLdA"]))
        out = {"A": from_torch(A)}
        for i in range(depth):
            out[f"dLdW{i}"], out[f"dLdb{i}"] = from_torch(Ws[i].grad), from_torch(bs[i].grad)
        return out

    return ref


def _compare_mlp(model: str):
    reference, flat = _ref_mlp(model), frozenset(f"dLdb{i}" for i in range(MLP_DEPTH[model]))

    def compare(out: Arrays, x: Arrays) -> Verdict:
        for i, (m, n) in enumerate(mlp_sizes(model, x)):
            try:
                built, spec = (tuple(int(k) for k in as_array(out.get(f"{key}_W{i}")).reshape(-1))
                               for key in ("built", "spec"))
            except ValueError as exc:
                return Verdict(False, f"layers[{i}].W: {exc}", f"W{i}: {NOT_NUMERIC}")
            if built != spec:
                return Verdict(False, f"layers[{i}].W: shape {built} as {model} built it, but layer {i} of {model} "
                                      f"is Linear({m}, {n}), whose W has shape {spec}", f"W{i}: {WRONG_SHAPE}")
        return compare_arrays(out, reference(x), flat)

    return compare


for _model in MLP_DEPTH:
    checks.add(Check(_model.lower(), f"{_model} forward and backward", _inputs_mlp(_model), _run_mlp(_model),
                   _ref_mlp(_model), flat=frozenset(f"dLdb{i}" for i in range(MLP_DEPTH[_model])),
                   compare=_compare_mlp(_model)))

# --- the visible (fixture) case of each check ---------------------------------------------

FIXTURE_SEED = 11785


def base_arrays() -> Arrays:
    """The arrays the handout promises in data/hw1/testerData.npz."""
    rng = np.random.default_rng(FIXTURE_SEED)
    return {"W": rng.standard_normal((10, 5)), "b": rng.standard_normal((5, 1)),
            "X": rng.standard_normal((5, 10)), "Y": _one_hot(rng, 5, 5), "dLdZ": rng.standard_normal((5, 5))}


def fixture_inputs(grade_id: str, base: Arrays) -> Arrays:
    """Visible inputs: built from the handout arrays where the shapes allow, else seeded."""
    W, b, X, Y, dLdZ = (base[k] for k in ("W", "b", "X", "Y", "dLdZ"))
    Z = X @ W + b.reshape(-1)
    if grade_id in ("linear_forward", "linear_backward"):
        return {"A": X, "W": W, "b": b.reshape(-1), "dLdO": dLdZ}
    if grade_id.startswith(("mse", "ce")):
        return {"O": Z, "Y": Y}
    if grade_id in ("sigmoid", "tanh", "relu"):
        H = Z.copy()
        H[0, 0] = 0.0
        return {"H": H}
    if grade_id == "mlp0":
        return {"X": X, "dLdA": dLdZ, "h": np.array(0), "W0": W, "b0": b.reshape(-1)}
    shape = {"linear_init": {"d": 256, "h": 512}, "sgd_step": {"d": 4, "h": 3, "lr": 0.1}}.get(
        grade_id, {"N": 5, "d": 10, "h": 8, "o": 5})
    return checks[grade_id].inputs(FIXTURE_SEED, **shape)
