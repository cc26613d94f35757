"""The graded checks: the reference passes every one, and each planted bug fails exactly its own."""
import sys

import numpy as np
import pytest

import mytorch
from coursekit.runtime.checks import SHIPPED, compare_arrays, fixture_case, load_module

from conftest import HW1, REPO

# What a release ships as coursekit/runtime/checks/assignment.py, where the tester helpers look.
CHECKS = load_module(REPO / HW1.checks)
sys.modules.setdefault(SHIPPED, CHECKS)
REGISTRY = CHECKS.checks
get = REGISTRY.__getitem__


@pytest.fixture
def library(monkeypatch):
    """The reference library with some classes swapped for broken ones, everywhere they are used."""

    def swap(**overrides):
        for name, cls in overrides.items():
            for module in (mytorch.nn, mytorch.models.mlp):
                if hasattr(module, name):
                    monkeypatch.setattr(module, name, cls)
        return mytorch

    return swap


def passes(grade_id, mt, seed=5):
    c = get(grade_id)
    x = c.inputs(seed)
    try:
        out = c.run(mt, x)
    except Exception:
        return False
    return c.verdict(out, c.reference(x) if c.reference else {}, x).ok


def test_registry_matches_the_assignment():
    assert set(REGISTRY) == {item.grade_id for item in HW1.items}


@pytest.mark.parametrize("grade_id", sorted({i.grade_id for i in HW1.items}))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_passes(grade_id, seed):
    assert passes(grade_id, mytorch, seed)


@pytest.mark.parametrize("grade_id", sorted({i.grade_id for i in HW1.items}))
def test_fixture_case_passes_against_stored_expectations(grade_id, repo):
    c = get(grade_id)
    inputs, expected = fixture_case(grade_id, repo / HW1.fixture)
    assert c.verdict(c.run(mytorch, inputs), expected, inputs).ok


class BadTanh(mytorch.nn.Tanh):
    def backward(self):
        return 1 - self.A


class BadLinear(mytorch.nn.Linear):
    def backward(self, dLdO):
        out = super().backward(dLdO)
        self.dLdW = self.dLdW / dLdO.shape[0]  # a common slip: averaging the weight gradient
        return out


class UniformLinear(mytorch.nn.Linear):
    def __init__(self, d, h):
        super().__init__(d, h)
        self.W = np.random.uniform(-np.sqrt(0.03), np.sqrt(0.03), size=(d, h))  # variance 0.01, not normal


class RowBiasLinear(mytorch.nn.Linear):
    """Keeps b as (1, h): not wrong, by the spec."""

    def __init__(self, d, h):
        super().__init__(d, h)
        self.b = self.b.reshape(1, -1)

    def backward(self, dLdO):
        out = super().backward(dLdO)
        self.dLdb = self.dLdb.reshape(1, -1)
        return out


class NaiveCE(mytorch.nn.CrossEntropyLoss):
    def forward(self, O, Y):
        self.O, self.Y = O, Y
        self.softmax = np.exp(O) / np.exp(O).sum(axis=1, keepdims=True)
        return float(-(Y * np.log(self.softmax)).sum() / O.shape[0])


BROKEN = {
    "tanh": (dict(Tanh=BadTanh), {"tanh"}),
    "linear_backward": (dict(Linear=BadLinear), {"linear_backward", "mlp0", "mlp1", "mlp4"}),
    "linear_init": (dict(Linear=UniformLinear), {"linear_init"}),
}


@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_a_bug_fails_exactly_the_items_using_it(bug, library):
    overrides, costs = BROKEN[bug]
    mt = library(**overrides)
    failed = {i.grade_id for i in HW1.items if not passes(i.grade_id, mt)}
    assert failed == costs


def test_row_bias_is_not_wrong(library):
    mt = library(Linear=RowBiasLinear)
    assert all(passes(g, mt) for g in ("linear_forward", "linear_backward", "mlp0", "mlp1", "mlp4"))


def test_naive_softmax_passes_but_gets_advice(monkeypatch, library):
    from coursekit.runtime.checks import tester

    mt = library(CrossEntropyLoss=NaiveCE)
    assert passes("ce_forward", mt)
    monkeypatch.setattr(tester, "load_mytorch", lambda: mt)
    notes = tester.advice(get("ce_forward"))
    assert notes and "1e3" in notes[0]
    assert tester.advice(get("mse_forward")) == []


def test_compare_reports_shape_and_value_problems():
    ref = {"O": np.ones((2, 3))}
    assert "shape" in compare_arrays({"O": np.ones((3, 2))}, ref).message
    assert "missing" in compare_arrays({}, ref).message
    assert "None" in compare_arrays({"O": None}, ref).message
    assert "nan" in compare_arrays({"O": np.full((2, 3), np.nan)}, ref).message
    assert not compare_arrays({"O": np.ones((2, 3)) + 1e-5}, ref).ok
    assert compare_arrays({"O": np.ones((2, 3)) + 1e-10}, ref).ok


def test_tester_check_raises_with_a_readable_message(monkeypatch, repo, library):
    from coursekit.runtime.checks import tester

    monkeypatch.setattr(tester, "load_mytorch", lambda: library(Tanh=BadTanh))
    with pytest.raises(tester.CheckFailed, match="tanh: dAdH: values differ"):
        tester.check("tanh", fixture=repo / HW1.fixture)
    tester.check("relu", fixture=repo / HW1.fixture)


def test_fixtures_regenerate_within_the_documented_tolerance(repo, tmp_path):
    # Not byte for byte: BLAS rounds the last bit differently on other CPUs (AMD EPYC).
    from coursekit.fixtures import differences, load, regenerate

    fresh, written = regenerate(HW1, repo, tmp_path / "testerData.npz")
    assert written
    assert differences(load(repo / HW1.fixture), load(fresh)) == []
    again, written = regenerate(HW1, repo, fresh)  # within tolerance of what is stored: left alone
    assert not written and again.read_bytes() == fresh.read_bytes()
    with np.load(fresh) as data:
        shapes = {k: data[k].shape for k in ("W", "b", "X", "Y", "dLdZ")}
    assert shapes == {"W": (10, 5), "b": (5, 1), "X": (5, 10), "Y": (5, 5), "dLdZ": (5, 5)}


def test_fixture_differences_beyond_tolerance_are_named(repo):
    from coursekit.fixtures import ATOL, RTOL, differences, load

    stored = load(repo / HW1.fixture)
    last_bit = {k: (np.nextafter(v, np.inf) if v.dtype.kind == "f" else v) for k, v in stored.items()}
    assert differences(stored, last_bit) == []  # another CPU's rounding is not a difference
    key = "expected__linear_forward__O"
    moved = dict(stored, **{key: stored[key] + 10 * (ATOL + RTOL * np.abs(stored[key]))})
    assert differences(stored, moved) == [f"{key}: values differ by up to "
                                          f"{np.max(np.abs(moved[key] - stored[key])):.3g}"]
    reshaped = dict(stored, W=stored["W"].T)
    assert differences(stored, reshaped) == ["W: float64[10, 5] stored, float64[5, 10] regenerated"]
    assert differences(stored, {k: v for k, v in stored.items() if k != "X"}) == ["X: only in the stored file"]


def test_course_fixtures_check_agrees_with_the_stored_file(repo):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "coursekit.cli", "fixtures", "--check"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches a fresh build" in proc.stdout
