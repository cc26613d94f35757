"""hw2's reference library against PyTorch autograd, on random shapes and values (float64).

The reference files hold both assignments' code; imported from the repo, the later (hw2)
definition of a method wins, so these tests run hw2's library, and also check that what
hw1's code and grading call (an activation's ``backward()`` without argument, ``SGD``
without momentum) still answers exactly as hw1's view of the same files does.
"""
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.library.stub import scope_text
from coursekit.library.markers import course_order
from mytorch import nn, optim

from conftest import HW1

REPO = Path(__file__).resolve().parents[2]
ORDER = course_order(REPO, "hw1", "hw2")  # hw2 in it even before its declaration exists

dims = st.integers(1, 12)
seeds = st.integers(0, 2**32 - 1)
CLOSE = dict(rtol=1e-6, atol=1e-8)
fast = settings(max_examples=25, deadline=None)


def t(x, grad=False):
    return torch.tensor(x, dtype=torch.float64, requires_grad=grad)


def view_module(rel: str, assignment: str) -> types.ModuleType:
    """The reference file ``rel`` as ``assignment`` releases it (solutions kept), imported."""
    text = scope_text((REPO / rel).read_text(encoding="utf-8"), assignment, ORDER, rel)
    module = types.ModuleType(f"{assignment}_{Path(rel).stem}")
    exec(compile(text, rel, "exec"), module.__dict__)
    return module


HW1_ACT = view_module("mytorch/nn/activation.py", "hw1")
HW1_SGD = view_module("mytorch/optim/sgd.py", "hw1")
ELEMENTWISE = ["Identity", "Sigmoid", "Tanh", "ReLU"]
TORCH_OF = {"Identity": lambda x: x * 1, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "ReLU": torch.relu,
            "GELU": torch.nn.GELU()}


# --- activations ----------------------------------------------------------------------------


@fast
@given(N=dims, C=dims, seed=seeds)
def test_elementwise_backward_is_the_vjp_and_without_argument_hw1s_derivative(N, C, seed):
    rng = np.random.default_rng(seed)
    Z, dLdA = 3 * rng.standard_normal((N, C)), rng.standard_normal((N, C))
    Z[0, 0] = 0.0
    for name in ELEMENTWISE + ["GELU"]:
        mine = getattr(nn, name)()
        tZ = t(Z, True)
        A = TORCH_OF[name](tZ)
        A.backward(t(dLdA))
        np.testing.assert_allclose(mine.forward(Z.copy()), A.detach().numpy(), **CLOSE)
        np.testing.assert_allclose(mine.backward(dLdA), tZ.grad.numpy(), **CLOSE, err_msg=name)
        # Without dLdA: dA/dZ, i.e. the VJP with ones.
        tZ = t(Z, True)
        TORCH_OF[name](tZ).sum().backward()
        np.testing.assert_allclose(mine.backward(), tZ.grad.numpy(), **CLOSE, err_msg=name)
        if name in ELEMENTWISE:  # bit for bit what hw1's code answers
            old = getattr(HW1_ACT, name)()
            old.forward(Z.copy())
            np.testing.assert_array_equal(mine.backward(), old.backward())


def test_hw1s_activations_keep_their_call():
    """hw1's view has backward(self); hw2's adds dLdA=None, so hw1's calls still work."""
    import inspect

    for name in ELEMENTWISE:
        assert list(inspect.signature(getattr(HW1_ACT, name).backward).parameters) == ["self"]
        assert list(inspect.signature(getattr(nn, name).backward).parameters) == ["self", "dLdA"]
    assert not hasattr(HW1_ACT, "GELU") and not hasattr(HW1_ACT, "Softmax")


@fast
@given(N=dims, C=dims, seed=seeds, scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_gelu_is_torchs_exact_gelu(N, C, seed, scale):
    Z = scale * np.random.default_rng(seed).standard_normal((N, C))
    tZ = t(Z, True)
    A = torch.nn.GELU(approximate="none")(tZ)
    A.sum().backward()
    gelu = nn.GELU()
    np.testing.assert_allclose(gelu.forward(Z), A.detach().numpy(), **CLOSE)
    np.testing.assert_allclose(gelu.backward(np.ones_like(Z)), tZ.grad.numpy(), **CLOSE)
    # ... and not the tanh approximation, which differs by more than the tolerance somewhere.
    approx = torch.nn.GELU(approximate="tanh")(t(np.array([[-2.0, -1.0, 1.5, 3.0]]))).numpy()
    assert not np.allclose(nn.GELU().forward(np.array([[-2.0, -1.0, 1.5, 3.0]])), approx, **CLOSE)


@fast
@given(N=dims, C=dims, seed=seeds, scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_softmax_forward_and_backward_match_torch(N, C, seed, scale):
    rng = np.random.default_rng(seed)
    Z, dLdA = scale * rng.standard_normal((N, C)), rng.standard_normal((N, C))
    tZ = t(Z, True)
    A = torch.softmax(tZ, dim=1)
    A.backward(t(dLdA))
    softmax = nn.Softmax()
    out = softmax.forward(Z)
    np.testing.assert_allclose(out, A.detach().numpy(), **CLOSE)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, **CLOSE)
    np.testing.assert_allclose(softmax.backward(dLdA), tZ.grad.numpy(), **CLOSE)


@fast
@given(N=dims, C=st.integers(2, 12), seed=seeds)
def test_softmax_backward_is_dLdA_times_the_jacobian(N, C, seed):
    rng = np.random.default_rng(seed)
    Z, dLdA = rng.standard_normal((N, C)), rng.standard_normal((N, C))
    softmax = nn.Softmax()
    A = softmax.forward(Z)
    expected = np.stack([dLdA[i] @ (np.diag(A[i]) - np.outer(A[i], A[i])) for i in range(N)])
    np.testing.assert_allclose(softmax.backward(dLdA), expected, **CLOSE)


def test_softmax_is_finite_for_huge_logits():
    Z = np.array([[1e3, 0.0, -1e3], [1e3, 1e3 - 1, 2e3], [-1e3, -1e3, -1e3]])
    softmax = nn.Softmax()
    A = softmax.forward(Z)
    assert np.isfinite(A).all()
    np.testing.assert_allclose(A, torch.softmax(t(Z), dim=1).numpy(), **CLOSE)
    assert np.isfinite(softmax.backward(np.ones_like(Z))).all()


# --- BCELoss --------------------------------------------------------------------------------


@fast
@given(N=dims, q=dims, seed=seeds)
def test_bce_matches_torch(N, q, seed):
    rng = np.random.default_rng(seed)
    A = rng.uniform(0.01, 0.99, (N, q))
    Y = rng.integers(0, 2, (N, q)).astype(float)
    tA = t(A, True)
    L = torch.nn.BCELoss()(tA, t(Y))
    L.backward()
    bce = nn.BCELoss()
    loss = bce.forward(A, Y)
    assert np.ndim(loss) == 0
    np.testing.assert_allclose(loss, L.item(), **CLOSE)
    np.testing.assert_allclose(bce.backward(), tA.grad.numpy(), **CLOSE)


# --- BatchNorm1d ----------------------------------------------------------------------------


def torch_bn(C, alpha, BW, Bb):
    bn = torch.nn.BatchNorm1d(C, eps=1e-8, momentum=1 - alpha, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(BW.ravel()))
        bn.bias.copy_(torch.from_numpy(Bb.ravel()))
    return bn


def test_batchnorm_starts_as_specified():
    bn = nn.BatchNorm1d(5)
    assert bn.alpha == 0.9 and bn.eps == 1e-8
    for name, value in (("BW", 1.0), ("Bb", 0.0), ("running_M", 0.0), ("running_V", 1.0)):
        arr = getattr(bn, name)
        assert arr.shape == (1, 5) and (arr == value).all(), name


@fast
@given(N=st.integers(2, 16), C=dims, seed=seeds, alpha=st.sampled_from([0.9, 0.5, 0.99]),
       batches=st.integers(1, 4))
def test_batchnorm_training_forward_running_stats_and_backward(N, C, seed, alpha, batches):
    rng = np.random.default_rng(seed)
    mine = nn.BatchNorm1d(C, alpha)
    mine.BW, mine.Bb = rng.standard_normal((1, C)), rng.standard_normal((1, C))
    theirs = torch_bn(C, alpha, mine.BW, mine.Bb)
    theirs.train()
    running_M, running_V = np.zeros((1, C)), np.ones((1, C))
    for _ in range(batches):
        Z = 2 * rng.standard_normal((N, C)) + rng.standard_normal((1, C))
        dLdBZ = rng.standard_normal((N, C))
        tZ = t(Z, True)
        BZ = theirs(tZ)
        BZ.backward(t(dLdBZ))
        np.testing.assert_allclose(mine.forward(Z), BZ.detach().numpy(), **CLOSE)
        np.testing.assert_allclose(mine.backward(dLdBZ), tZ.grad.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(mine.dLdBW.ravel(), theirs.weight.grad.numpy(), **CLOSE)
        np.testing.assert_allclose(mine.dLdBb.ravel(), theirs.bias.grad.numpy(), **CLOSE)
        assert mine.dLdBW.size == C and mine.dLdBb.size == C
        theirs.weight.grad = theirs.bias.grad = None
        # The spec's running_V averages the biased V (PyTorch's the unbiased one): by hand.
        running_M = alpha * running_M + (1 - alpha) * Z.mean(axis=0, keepdims=True)
        running_V = alpha * running_V + (1 - alpha) * Z.var(axis=0, keepdims=True)
        np.testing.assert_allclose(mine.running_M, running_M, **CLOSE)
        np.testing.assert_allclose(mine.running_M.ravel(), theirs.running_mean.numpy(), **CLOSE)
        np.testing.assert_allclose(mine.running_V, running_V, **CLOSE)


@fast
@given(N=st.integers(1, 16), C=dims, seed=seeds)
def test_batchnorm_eval_uses_running_stats_and_keeps_them(N, C, seed):
    rng = np.random.default_rng(seed)
    mine = nn.BatchNorm1d(C)
    mine.BW, mine.Bb = rng.standard_normal((1, C)), rng.standard_normal((1, C))
    for _ in range(3):
        mine.forward(rng.standard_normal((5, C)) * 3 + 1)
    M, V = mine.running_M.copy(), mine.running_V.copy()
    theirs = torch_bn(C, 0.9, mine.BW, mine.Bb)
    with torch.no_grad():
        theirs.running_mean.copy_(torch.from_numpy(M.ravel()))
        theirs.running_var.copy_(torch.from_numpy(V.ravel()))
    theirs.eval()
    Z = rng.standard_normal((N, C))
    np.testing.assert_allclose(mine.forward(Z, eval=True), theirs(t(Z)).detach().numpy(), **CLOSE)
    np.testing.assert_allclose(mine.forward(Z, True), mine.BW * (Z - M) / np.sqrt(V + 1e-8) + mine.Bb, **CLOSE)
    np.testing.assert_array_equal(mine.running_M, M)
    np.testing.assert_array_equal(mine.running_V, V)


# --- Dropout --------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.5, 0.8])
def test_dropout_keeps_each_entry_with_probability_one_minus_p(p):
    np.random.seed(1234)
    X = np.random.default_rng(7).standard_normal((200, 500)) + 3  # never 0
    drop = nn.Dropout(p)
    Y = drop.forward(X)
    kept = Y != 0
    np.testing.assert_allclose(Y[kept], X[kept] / (1 - p), rtol=1e-12)
    n = X.size
    assert abs(kept.mean() - (1 - p)) <= 6 * np.sqrt(p * (1 - p) / n) + 1e-12
    dLdY = np.random.default_rng(8).standard_normal(X.shape)
    dLdX = drop.backward(dLdY)
    np.testing.assert_array_equal(dLdX != 0, kept)
    np.testing.assert_allclose(dLdX[kept], dLdY[kept] / (1 - p), rtol=1e-12)
    np.testing.assert_array_equal(drop.forward(X, train=False), X)


@fast
@given(N=dims, C=dims, seed=seeds, p=st.sampled_from([0.2, 0.5, 0.7]))
def test_dropout_draws_a_new_mask_and_backward_uses_the_last(N, C, seed, p):
    np.random.seed(seed)
    X = np.random.default_rng(seed).uniform(1, 2, (N, C))
    drop = nn.Dropout(p)
    masks = [drop.forward(X) != 0 for _ in range(3)]
    last = masks[-1]
    np.testing.assert_array_equal(drop.backward(np.ones_like(X)) != 0, last)
    np.testing.assert_array_equal(drop.forward(X, train=False), X)
    assert nn.Dropout().p == 0.5


# --- optimisers -----------------------------------------------------------------------------


class Layer:
    """A stand-in: W, b and their gradients, nothing else."""

    def __init__(self, rng, d, h, b_as_row=False):
        self.W, self.b = rng.standard_normal((d, h)), rng.standard_normal(h)
        self.b_as_row = b_as_row

    def new_grads(self, rng):
        self.dLdW = rng.standard_normal(self.W.shape)
        self.dLdb = rng.standard_normal(self.b.shape)
        if self.b_as_row:
            self.dLdb = self.dLdb.reshape(1, -1)


class Model:
    def __init__(self, layers):
        self.layers = layers


def run_both(make_mine, make_theirs, seed, sizes, steps):
    """Run our optimiser and torch's on the same layers and gradients; compare after every step."""
    rng = np.random.default_rng(seed)
    layers = [Layer(rng, d, h, b_as_row=i % 2 == 1) for i, (d, h) in enumerate(sizes)]
    params = [t(p.copy(), True) for layer in layers for p in (layer.W, layer.b)]
    mine, theirs = make_mine(Model(layers)), make_theirs(params)
    for _ in range(steps):
        for layer in layers:
            layer.new_grads(rng)
        for p, g in zip(params, [g for layer in layers for g in (layer.dLdW, layer.dLdb)]):
            p.grad = t(g.reshape(p.shape))
        mine.step()
        theirs.step()
        for p, q in zip(params, [q for layer in layers for q in (layer.W, layer.b)]):
            np.testing.assert_allclose(q, p.detach().numpy(), **CLOSE)
    return mine, layers


sizes = st.lists(st.tuples(dims, dims), min_size=1, max_size=3)


@fast
@given(seed=seeds, sizes=sizes, steps=st.integers(1, 6), lr=st.sampled_from([0.1, 0.01, 0.5]),
       momentum=st.sampled_from([0.0, 0.5, 0.9]))
def test_sgd_with_momentum_is_torchs(seed, sizes, steps, lr, momentum):
    run_both(lambda m: optim.SGD(m, lr=lr, momentum=momentum),
             lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum), seed, sizes, steps)


@fast
@given(seed=seeds, d=dims, h=dims, steps=st.integers(1, 4))
def test_sgd_without_momentum_is_hw1s_sgd_bit_for_bit(seed, d, h, steps):
    ours, old = Layer(np.random.default_rng(seed), d, h), Layer(np.random.default_rng(seed), d, h)
    rng = np.random.default_rng(seed + 1)
    new_opt, old_opt = optim.SGD(Model([ours])), HW1_SGD.SGD(Model([old]))
    assert new_opt.lr == old_opt.lr == 0.1
    for _ in range(steps):
        ours.new_grads(rng)
        old.dLdW, old.dLdb = ours.dLdW.copy(), ours.dLdb.copy()
        new_opt.step()
        old_opt.step()
        np.testing.assert_array_equal(ours.W, old.W)
        np.testing.assert_array_equal(ours.b, old.b)
    new_opt.zero_grad()
    single = Layer(rng, d, h)
    single.new_grads(rng)
    optim.SGD(single, lr=0.5).step()  # a single layer, as in hw1


@fast
@given(seed=seeds, sizes=sizes, steps=st.integers(1, 8), lr=st.sampled_from([0.001, 0.01, 0.1]),
       betas=st.sampled_from([(0.9, 0.999), (0.8, 0.99), (0.5, 0.9)]), eps=st.sampled_from([1e-8, 1e-6]))
def test_adam_is_torchs(seed, sizes, steps, lr, betas, eps):
    mine, _ = run_both(lambda m: optim.Adam(m, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps),
                       lambda ps: torch.optim.Adam(ps, lr=lr, betas=betas, eps=eps), seed, sizes, steps)
    assert mine.t == steps
    mine.zero_grad()


def test_adam_defaults():
    opt = optim.Adam(Model([Layer(np.random.default_rng(0), 2, 3)]))
    assert (opt.lr, opt.beta1, opt.beta2, opt.eps, opt.t) == (0.001, 0.9, 0.999, 1e-8, 0)


# --- the pieces together ------------------------------------------------------------------------


@fast
@given(N=st.integers(2, 10), d=dims, h=dims, q=dims, seed=seeds)
def test_a_network_of_the_new_pieces_backpropagates_like_torch(N, d, h, q, seed):
    """Linear -> BatchNorm1d -> GELU -> Dropout(0) -> Linear -> Sigmoid -> BCELoss, chained by backward(dLdA)."""
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((N, d)), rng.integers(0, 2, (N, q)).astype(float)
    l1, l2 = nn.Linear(d, h), nn.Linear(h, q)
    l1.b, l2.b = rng.standard_normal(h), rng.standard_normal(q)
    bn, gelu, drop, sig, bce = nn.BatchNorm1d(h), nn.GELU(), nn.Dropout(0.0), nn.Sigmoid(), nn.BCELoss()
    loss = bce.forward(sig.forward(l2.forward(drop.forward(gelu.forward(bn.forward(l1.forward(X)))))), Y)
    dLdX = l1.backward(bn.backward(gelu.backward(drop.backward(l2.backward(sig.backward(bce.backward()))))))

    tX, W1, b1, W2, b2 = (t(a, True) for a in (X, l1.W, l1.b, l2.W, l2.b))
    tbn = torch_bn(h, 0.9, bn.BW, bn.Bb)
    tloss = torch.nn.BCELoss()(torch.sigmoid(torch.nn.GELU()(tbn(tX @ W1 + b1)) @ W2 + b2), t(Y))
    tloss.backward()
    np.testing.assert_allclose(loss, tloss.item(), **CLOSE)
    np.testing.assert_allclose(dLdX, tX.grad.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(l1.dLdW, W1.grad.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(l2.dLdW, W2.grad.numpy(), **CLOSE)
    np.testing.assert_allclose(bn.dLdBW.ravel(), tbn.weight.grad.numpy(), **CLOSE)


# --- the two views --------------------------------------------------------------------------------

NEW = ("GELU", "Softmax", "BatchNorm1d", "Dropout", "BCELoss", "Adam")


def import_view(tmp_path: Path, assignment: str, files) -> str:
    """Write ``assignment``'s view of ``files`` to tmp_path and import it in a fresh interpreter."""
    for rel in files:
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(scope_text((REPO / rel).read_text(encoding="utf-8"), assignment, ORDER, rel))
    probe = ("import mytorch, mytorch.nn as n, mytorch.optim as o, mytorch.models\n"
             f"print(sorted(x for x in {NEW!r} if hasattr(n, x) or hasattr(o, x)))\n"
             "print(sorted(n.__all__ + o.__all__))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_hw1s_view_has_nothing_of_hw2(tmp_path):
    files = HW1.student_files + HW1.library_files
    assert not {"mytorch/nn/batchnorm.py", "mytorch/nn/dropout.py", "mytorch/optim/adam.py"} & set(files)
    out = import_view(tmp_path, "hw1", files)
    assert out.splitlines()[0] == "[]"
    for rel in files:
        text = (tmp_path / rel).read_text()
        for needle in [f"class {name}" for name in NEW] + ["Adam", "BCE", "GELU", "scipy", "| None = None",
                                                           "momentum", "batchnorm", "dropout", "FROM", "UNTIL"]:
            assert needle not in text, (rel, needle)


def test_hw2s_view_exports_every_class(tmp_path):
    files = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "mytorch").rglob("*.py"))
    out = import_view(tmp_path, "hw2", files).splitlines()
    assert out[0] == str(sorted(NEW))
    for name in NEW + ("Linear", "MSELoss", "CrossEntropyLoss", "Identity", "Sigmoid", "Tanh", "ReLU", "SGD"):
        assert f"'{name}'" in out[1]
