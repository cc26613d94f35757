"""The reference library against PyTorch autograd, on random shapes and values (float64)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mytorch import nn, optim
from mytorch.models import MLP0, MLP1, MLP4

dims = st.integers(1, 12)
seeds = st.integers(0, 2**32 - 1)
CLOSE = dict(rtol=1e-6, atol=1e-8)
fast = settings(max_examples=25, deadline=None)


def t(x, grad=False):
    return torch.tensor(x, dtype=torch.float64, requires_grad=grad)


@fast
@given(N=dims, d=dims, h=dims, seed=seeds)
def test_linear_forward_backward(N, d, h, seed):
    rng = np.random.default_rng(seed)
    A, dLdO = rng.standard_normal((N, d)), rng.standard_normal((N, h))
    layer = nn.Linear(d, h)
    layer.b = rng.standard_normal(h)
    tA, tW, tb = t(A, True), t(layer.W, True), t(layer.b, True)
    tO = tA @ tW + tb
    tO.backward(t(dLdO))
    np.testing.assert_allclose(layer.forward(A), tO.detach().numpy(), **CLOSE)
    np.testing.assert_allclose(layer.backward(dLdO), tA.grad.numpy(), **CLOSE)
    np.testing.assert_allclose(layer.dLdW, tW.grad.numpy(), **CLOSE)
    np.testing.assert_allclose(layer.dLdb, tb.grad.numpy(), **CLOSE)
    assert layer.dLdW.shape == (d, h)


def test_linear_init_distribution():
    np.random.seed(0)
    layer = nn.Linear(300, 400)
    assert layer.W.shape == (300, 400) and layer.b.shape == (400,)
    assert not layer.b.any()
    assert abs(layer.W.mean()) < 2e-3
    assert abs(layer.W.var() - 0.01) < 3e-4


@fast
@given(N=dims, q=st.integers(2, 12), seed=seeds, scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_losses(N, q, seed, scale):
    rng = np.random.default_rng(seed)
    O, Y = scale * rng.standard_normal((N, q)), np.eye(q)[rng.integers(0, q, N)]
    for mine, theirs in [(nn.MSELoss(), torch.nn.MSELoss()), (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss())]:
        tO = t(O, True)
        L = theirs(tO, t(Y))
        L.backward()
        np.testing.assert_allclose(mine.forward(O, Y), L.item(), **CLOSE)
        np.testing.assert_allclose(mine.backward(), tO.grad.numpy(), **CLOSE)


def test_cross_entropy_survives_huge_logits():
    O = np.array([[1e3, 0.0, -1e3]])
    Y = np.array([[0.0, 0.0, 1.0]])
    assert nn.CrossEntropyLoss().forward(O, Y) == pytest.approx(2e3)


@fast
@given(N=dims, q=dims, seed=seeds)
def test_activations(N, q, seed):
    H = 3 * np.random.default_rng(seed).standard_normal((N, q))
    H[0, 0] = 0.0
    for mine, theirs in [(nn.Sigmoid(), torch.sigmoid), (nn.Tanh(), torch.tanh), (nn.ReLU(), torch.relu),
                         (nn.Identity(), lambda x: x * 1)]:
        tH = t(H, True)
        A = theirs(tH)
        A.sum().backward()
        np.testing.assert_allclose(mine.forward(H), A.detach().numpy(), **CLOSE)
        np.testing.assert_allclose(mine.backward(), tH.grad.numpy(), **CLOSE)


def test_sigmoid_extremes_are_finite():
    f = nn.Sigmoid()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = f.forward(np.array([-1e3, 0.0, 1e3]))
    np.testing.assert_array_equal(A, [0.0, 0.5, 1.0])


@fast
@given(d=dims, h=dims, seed=seeds, lr=st.floats(1e-3, 1.0))
def test_sgd_matches_torch(d, h, seed, lr):
    rng = np.random.default_rng(seed)
    model = MLP1(d, 3, h)
    torch_params = []
    for layer in model.layers:
        layer.dLdW, layer.dLdb = rng.standard_normal(layer.W.shape), rng.standard_normal(layer.b.shape)
        for p, g in ((layer.W, layer.dLdW), (layer.b, layer.dLdb)):
            tp = t(p.copy(), True)
            tp.grad = t(g)
            torch_params.append(tp)
    topt = torch.optim.SGD(torch_params, lr=lr)
    topt.step()
    opt = optim.SGD(model, lr=lr)
    opt.zero_grad()
    opt.step()
    mine = [p for layer in model.layers for p in (layer.W, layer.b)]
    for p, tp in zip(mine, torch_params):
        np.testing.assert_allclose(p, tp.detach().numpy(), **CLOSE)


def test_sgd_on_a_single_linear():
    layer = nn.Linear(2, 2)
    W = layer.W.copy()
    layer.dLdW, layer.dLdb = np.ones((2, 2)), np.ones(2)
    optim.SGD(layer, lr=0.5).step()
    np.testing.assert_allclose(layer.W, W - 0.5)
    np.testing.assert_allclose(layer.b, [-0.5, -0.5])


@fast
@given(N=dims, d=dims, h=dims, o=dims, seed=seeds, which=st.sampled_from(["MLP0", "MLP1", "MLP4"]))
def test_mlps_match_torch(N, d, h, o, seed, which):
    rng = np.random.default_rng(seed)
    model = {"MLP0": lambda: MLP0(d, o), "MLP1": lambda: MLP1(d, o, h), "MLP4": lambda: MLP4(d, o, h)}[which]()
    assert len(model.layers) == {"MLP0": 1, "MLP1": 2, "MLP4": 5}[which] == len(model.f)
    X, dLdA = rng.standard_normal((N, d)), rng.standard_normal((N, o))
    for layer in model.layers:
        layer.b = rng.standard_normal(layer.b.shape)
    params = [(t(layer.W, True), t(layer.b, True)) for layer in model.layers]
    A = t(X)
    for i, (W, b) in enumerate(params):
        A = A @ W + b
        A = torch.relu(A) if i < len(params) - 1 else A
    A.backward(t(dLdA))
    np.testing.assert_allclose(model.forward(X), A.detach().numpy(), **CLOSE)
    model.backward(dLdA)
    for layer, (W, b) in zip(model.layers, params):
        np.testing.assert_allclose(layer.dLdW, W.grad.numpy(), **CLOSE)
        np.testing.assert_allclose(layer.dLdb, b.grad.numpy(), **CLOSE)
