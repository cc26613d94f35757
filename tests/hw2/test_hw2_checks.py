"""hw2's checks: the reference passes each on new seeds and shapes, each typical mistake of
source/hw2/samples.py fails exactly the items it touches, a Softmax without the max shift loses
nothing but gets the advice, property and notebook-code checks tell right from wrong, and the
stored fixture is what a fresh build gives."""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from coursekit.assignment import load_assignment
from coursekit.runtime.checks import fixture_case, load_module
from coursekit.fixtures import build, differences, load
from coursekit.library.view import library_view, reference_file

from conftest import REPO

HW2 = load_assignment(REPO, "hw2")
MODULE = load_module(REPO / HW2.checks)
CHECKS = MODULE.checks
LIBRARY_ITEMS = sorted(i.grade_id for i in HW2.auto_items if not i.cell)
CELL_ITEMS = sorted(i.grade_id for i in HW2.auto_items if i.cell)
FIXTURE = REPO / HW2.fixture


def _samples():
    spec = importlib.util.spec_from_file_location("hw2_samples", REPO / HW2.samples)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BUGS


BUGS = _samples()


@contextmanager
def fresh_import(folder: Path, package: str = "mytorch"):
    """``package`` imported from ``folder``; sys.modules and sys.path as they were afterwards."""
    saved = {k: v for k, v in sys.modules.items() if k == package or k.startswith(package + ".")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(folder))
        for k in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
            del sys.modules[k]
        sys.modules.update(saved)


def hand_in(folder: Path, bugs=()) -> Path:
    """hw2's library as the reference sample hands it in (hw2's view), with ``bugs`` planted."""
    for rel in HW2.student_files + HW2.library_files:
        text = (REPO / rel).read_text()
        text = reference_file(HW2, REPO, rel) if rel in HW2.student_files else library_view(HW2, rel, text)
        for file, correct, buggy, _ in bugs:
            if file == rel:
                assert correct in text, f"{rel}: the bug's correct text is not in hw2's view"
                text = text.replace(correct, buggy)
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    with fresh_import(hand_in(tmp_path_factory.mktemp("reference"))) as mt:
        yield mt


def verdict(grade_id: str, code, seed: int, **shape):
    c = CHECKS[grade_id]
    x = c.inputs(seed, **shape)
    try:
        with np.errstate(all="ignore"):
            out = c.run(code, x)
    except Exception as exc:  # noqa: BLE001
        return False, f"raised {type(exc).__name__}: {exc}"
    v = c.verdict(out, c.reference(x) if c.reference else {}, x)
    return v.ok, v.message


def passes(grade_id: str, code, seed: int, **shape) -> bool:
    return verdict(grade_id, code, seed, **shape)[0]


# --- notebook code: model answers written here (the notebooks' own are tested once they exist) ---


def numerical_grad(f, X, eps=1e-6):
    g = np.zeros_like(X, dtype=float)
    for i in np.ndindex(X.shape):
        old = X[i]
        X[i] = old + eps
        up = f(X)
        X[i] = old - eps
        down = f(X)
        X[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def train_epoch(model, criterion, optimizer, X, Y, batch_size, rng):
    order = rng.permutation(len(X))
    total = 0.0
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        out = model.forward(X[idx])
        loss = criterion.forward(out, Y[idx])
        model.backward(criterion.backward())
        optimizer.step()
        total += loss * len(idx)
    return total / len(X)


def cell(**functions):
    return types.SimpleNamespace(**functions)


GOOD_CELLS = {"numerical_grad": cell(numerical_grad=numerical_grad), "train_epoch": cell(train_epoch=train_epoch)}

# --- the declaration and the registry ---------------------------------------------------------


def test_registry_matches_the_declaration():
    assert set(CHECKS) == {i.grade_id for i in HW2.auto_items}
    assert HW2.total_points == HW2.declared_total == 60 and HW2.auto_points == 50
    assert {i.grade_id: i.cell for i in HW2.auto_items if i.cell} == {
        "numerical_grad": "numerical_grad_code", "train_epoch": "train_epoch_code"}
    assert all(CHECKS[g].runs == "cell" for g in CELL_ITEMS)
    assert all(CHECKS[g].runs == "library" for g in LIBRARY_ITEMS)
    # No hw2 item runs a class hw1 graded (Linear, the losses of hw1, the MLPs).
    assert all(set(i.files) <= {"mytorch/nn/activation.py", "mytorch/nn/loss.py", "mytorch/nn/batchnorm.py",
                                "mytorch/nn/dropout.py", "mytorch/optim/sgd.py", "mytorch/optim/adam.py"}
               and len(i.files) == 1 for i in HW2.auto_items if not i.cell)


@pytest.mark.parametrize("grade_id", LIBRARY_ITEMS)
def test_reference_passes_on_new_seeds_and_shapes(grade_id, reference):
    for seed in (1, 2, 3, 4):
        ok, why = verdict(grade_id, reference, seed)
        assert ok, f"seed {seed}: {why}"


HIDDEN_SHAPES = {
    "activations_vjp": dict(N=7, C=3), "gelu": dict(N=2, C=11), "softmax": dict(N=1, C=2),
    "bce_forward": dict(N=9, q=1), "bce_backward": dict(N=3, q=4),
    "batchnorm_train": dict(N=2, C=5, steps=1, alpha=0.5), "batchnorm_eval": dict(N=3, C=1),
    "batchnorm_backward": dict(N=16, C=2), "sgd_momentum": dict(d=1, h=4, steps=6, lr=0.05, momentum=0.99),
    "adam": dict(d=5, h=1, steps=8, lr=0.001, beta1=0.8, beta2=0.99), "dropout": dict(N=13, C=2, p=0.7),
    "numerical_grad": dict(n=1, m=1, k=4), "train_epoch": dict(N=17, batch_size=17, d=1, q=1),
}


@pytest.mark.parametrize("grade_id", sorted(CHECKS))
def test_every_keyword_a_hidden_case_may_give_is_taken(grade_id, reference):
    shape = HIDDEN_SHAPES[grade_id]
    code = GOOD_CELLS.get(grade_id, reference)
    ok, why = verdict(grade_id, code, 7, **shape)
    assert ok, why
    x = CHECKS[grade_id].inputs(7, **shape)
    for name in ("lr", "momentum", "alpha", "p", "beta1", "beta2", "batch_size"):
        if name in shape:
            assert float(x[name]) == shape[name]


def test_inputs_are_at_a_networks_scale_and_float64():
    for grade_id in CHECKS:
        x = CHECKS[grade_id].inputs(5)
        for name, a in x.items():
            assert a.dtype in (np.float64, np.int64), (grade_id, name, a.dtype)
            if a.dtype == np.float64 and a.size > 1:
                assert np.abs(a).max() < 20, (grade_id, name)


# --- typical mistakes ---------------------------------------------------------------------------


def bug_id(bug) -> str:
    return f"{bug[0].split('/')[-1]}:{','.join(bug[3]) or 'none'}:{bug[2][:20]}"


LIBRARY_BUGS = [b for b in BUGS if not b[0].endswith(".ipynb")]
NOTEBOOK_BUGS = [b for b in BUGS if b[0].endswith(".ipynb")]


@pytest.mark.parametrize("bug", LIBRARY_BUGS, ids=bug_id)
def test_a_typical_mistake_fails_exactly_its_items(bug, tmp_path):
    with fresh_import(hand_in(tmp_path, [bug])) as mt:
        for seed in (1, 2):
            failed = {g for g in LIBRARY_ITEMS if not passes(g, mt, seed)}
            failed |= {g for g in CELL_ITEMS if not passes(g, GOOD_CELLS[g], seed)}
            assert failed == set(bug[3]), f"seed {seed}"


def test_every_library_bug_is_planted_in_hw2s_view():
    for file, correct, buggy, costs in LIBRARY_BUGS:
        assert correct != buggy and set(costs) <= set(CHECKS)
        assert reference_file(HW2, REPO, file).count(correct) == 1, file


# --- the notebooks' own model solutions and cases (the notebooks are written apart) -------------

NOTEBOOKS_WRITTEN = all((REPO / "source" / "hw2" / f"{nb}.ipynb").is_file() for nb in HW2.notebooks)
needs_notebooks = pytest.mark.skipif(not NOTEBOOKS_WRITTEN, reason="hw2's notebooks are not written yet")


def cell_module(source: str) -> types.ModuleType:
    """A notebook cell's code run on its own, as the grader runs it."""
    module = types.ModuleType("notebook_cell")
    exec(compile(source, "cell", "exec"), module.__dict__)
    return module


def model_cells() -> dict[str, str]:
    """grade id of an item -> the model solution of the cell it runs."""
    from coursekit.samples import solution_cells

    cells = solution_cells(HW2, REPO)
    return {i.grade_id: cells[i.notebook][i.cell] for i in HW2.auto_items if i.cell}


@needs_notebooks
def test_the_notebooks_model_solutions_pass_their_checks():
    for grade_id, source in model_cells().items():
        code = cell_module(source)
        for seed in range(8):
            ok, why = verdict(grade_id, code, seed)
            assert ok, f"{grade_id}, seed {seed}: {why}"


@needs_notebooks
@pytest.mark.parametrize("bug", NOTEBOOK_BUGS, ids=bug_id)
def test_a_typical_mistake_in_a_notebook_cell_fails_exactly_its_items(bug):
    notebook, correct, buggy, costs = bug
    sources = model_cells()
    broken = {g for g in CELL_ITEMS if correct in sources[g]}
    assert len(broken) == 1 and sum(sources[g].count(correct) for g in CELL_ITEMS) == 1
    assert all(HW2.item(g).notebook == notebook.removesuffix(".ipynb") for g in broken)
    for seed in (1, 2):
        failed = {g for g in CELL_ITEMS
                  if not passes(g, cell_module(sources[g].replace(correct, buggy)), seed)}
        assert failed == set(costs), f"seed {seed}"


@needs_notebooks
def test_every_case_the_notebooks_grade_passes_with_the_reference(reference):
    from coursekit.autograde.cases import read_cases

    cells = {g: cell_module(source) for g, source in model_cells().items()}
    for grade_id, cases in read_cases(HW2, REPO / "source" / "hw2").items():
        if grade_id not in CHECKS:
            continue
        c, code = CHECKS[grade_id], cells.get(grade_id, reference)
        for case in cases:
            if case:
                x = c.inputs(**case)
                v = c.verdict(c.run(code, x), c.reference(x) if c.reference else {}, x)
            else:
                x, expected = fixture_case(grade_id, FIXTURE)
                v = c.verdict(c.run(code, x), expected, x)
            assert v.ok, f"{grade_id} {case}: {v.message}"


def test_softmax_without_the_max_shift_loses_nothing_but_gets_the_advice(tmp_path, monkeypatch):
    from coursekit.runtime.checks import tester

    naive = [b for b in BUGS if b[2] == "e = np.exp(Z)"]
    assert naive and naive[0][3] == ()
    with fresh_import(hand_in(tmp_path, naive)) as mt:
        assert all(passes("softmax", mt, seed) for seed in range(6))
        monkeypatch.setattr(tester, "load_mytorch", lambda: mt)
        notes = tester.advice(CHECKS["softmax"])
    assert len(notes) == 1 and "1e3" in notes[0] and "maximum" in notes[0], notes


def test_the_reference_gets_no_advice(reference, monkeypatch):
    from coursekit.runtime.checks import tester

    monkeypatch.setattr(tester, "load_mytorch", lambda: reference)
    assert all(tester.advice(CHECKS[g]) == [] for g in LIBRARY_ITEMS)


# --- dropout: properties ----------------------------------------------------------------------------


def test_dropout_never_fails_a_correct_layer(reference):
    failures = [seed for seed in range(200) if not passes("dropout", reference, seed)]
    assert failures == []


def dropout_variant(reference, forward=None, backward=None):
    class Variant(reference.nn.Dropout):
        pass

    if forward:
        Variant.forward = forward
    if backward:
        Variant.backward = backward
    return types.SimpleNamespace(nn=types.SimpleNamespace(Dropout=Variant))


def _keep_p(self, X, train=True):  # keeps with probability p instead of 1 - p
    if not train:
        return X
    self.mask = np.random.binomial(1, self.p, size=X.shape)
    return X * self.mask / (1 - self.p)


def _no_dropout(self, X, train=True):
    self.mask = np.ones_like(X)
    return X / (1 - self.p) if train else X


def _new_mask(self, dLdY):
    return dLdY * np.random.binomial(1, 1 - self.p, size=dLdY.shape) / (1 - self.p)


def _ignores_upstream(self, dLdY):
    return self.mask / (1 - self.p)


def _eval_scaled(self, X, train=True):
    if not train:
        return X * (1 - self.p)
    self.mask = np.random.binomial(1, 1 - self.p, size=X.shape)
    return X * self.mask / (1 - self.p)


@pytest.mark.parametrize("variant, expect", [
    (dict(forward=_keep_p), "kept"),
    (dict(forward=_no_dropout), "kept"),
    (dict(backward=_new_mask), "backward"),
    (dict(backward=_ignores_upstream), "backward"),
    (dict(forward=_eval_scaled), "train=False"),
])
def test_dropout_tells_wrong_layers(reference, variant, expect):
    for seed in range(3):
        ok, why = verdict("dropout", dropout_variant(reference, **variant), seed)
        assert not ok and expect in why, why


# --- numerical_grad and train_epoch: notebook code ------------------------------------------------


def test_a_central_difference_passes_on_many_seeds_and_shapes():
    good = GOOD_CELLS["numerical_grad"]
    assert all(passes("numerical_grad", good, seed) for seed in range(25))
    assert passes("numerical_grad", good, 1, n=8, m=5, k=5)


def _forward_difference(f, X, eps=1e-6):
    g = np.zeros_like(X)
    base = f(X)
    for i in np.ndindex(X.shape):
        Xp = X.copy()
        Xp[i] += eps
        g[i] = (f(Xp) - base) / eps
    return g


def _not_restored(f, X, eps=1e-6):
    g = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        X[i] += eps
        up = f(X)
        X[i] -= 2 * eps
        g[i] = (up - f(X)) / (2 * eps)
    return g


def _restored_by_arithmetic(f, X, eps=1e-6):  # X[i] += eps ... -= 2 eps ... += eps: not wrong
    g = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        X[i] += eps
        up = f(X)
        X[i] -= 2 * eps
        down = f(X)
        X[i] += eps
        g[i] = (up - down) / (2 * eps)
    return g


def _flattened(f, X, eps=1e-6):
    return numerical_grad(f, X, eps).reshape(-1)


@pytest.mark.parametrize("fn, ok, expect", [
    (_forward_difference, False, "grad"),
    (_not_restored, False, "unchanged"),
    (_flattened, False, "shape"),
    (_restored_by_arithmetic, True, ""),
])
def test_numerical_grad_tells_wrong_gradients(fn, ok, expect):
    for seed in range(5):
        result, why = verdict("numerical_grad", cell(numerical_grad=fn), seed)
        assert result == ok and expect in why, why


def test_a_correct_training_loop_passes():
    good = GOOD_CELLS["train_epoch"]
    assert all(passes("train_epoch", good, seed) for seed in range(20))
    assert passes("train_epoch", good, 1, N=12, batch_size=4)  # the last batch full
    assert passes("train_epoch", good, 1, N=3, batch_size=5)  # one batch


def _without_zero_grad(model, criterion, optimizer, X, Y, batch_size, rng):
    order, total = rng.permutation(len(X)), 0.0
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        loss = criterion.forward(model.forward(X[idx]), Y[idx])
        model.backward(criterion.backward())
        optimizer.step()
        total += loss * len(idx)
    return total / len(X)


def _reshuffled(model, criterion, optimizer, X, Y, batch_size, rng):
    total = 0.0
    for start in range(0, len(X), batch_size):
        idx = rng.permutation(len(X))[start:start + batch_size]
        optimizer.zero_grad()
        loss = criterion.forward(model.forward(X[idx]), Y[idx])
        model.backward(criterion.backward())
        optimizer.step()
        total += loss * len(idx)
    return total / len(X)


def _mean_of_batches(model, criterion, optimizer, X, Y, batch_size, rng):
    order, losses = rng.permutation(len(X)), []
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        losses.append(criterion.forward(model.forward(X[idx]), Y[idx]))
        model.backward(criterion.backward())
        optimizer.step()
    return float(np.mean(losses))


def _zero_grad_last(model, criterion, optimizer, X, Y, batch_size, rng):
    order, total = rng.permutation(len(X)), 0.0
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        loss = criterion.forward(model.forward(X[idx]), Y[idx])
        model.backward(criterion.backward())
        optimizer.step()
        optimizer.zero_grad()
        total += loss * len(idx)
    return total / len(X)


def _drops_last_batch(model, criterion, optimizer, X, Y, batch_size, rng):
    order, total = rng.permutation(len(X)), 0.0
    full = len(X) // batch_size * batch_size
    for start in range(0, full, batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = criterion.forward(model.forward(X[idx]), Y[idx])
        model.backward(criterion.backward())
        optimizer.step()
        total += loss * len(idx)
    return total / full


@pytest.mark.parametrize("fn, expect", [
    (_without_zero_grad, "expected exactly optimizer.zero_grad, model.forward"),
    (_reshuffled, "consecutive slices of one rng.permutation"),
    (_mean_of_batches, "the returned loss"),
    (_zero_grad_last, "batch 1 of"),
    (_drops_last_batch, "batch"),
])
def test_train_epoch_tells_wrong_loops(fn, expect):
    for seed in range(4):
        ok, why = verdict("train_epoch", cell(train_epoch=fn), seed)
        assert not ok and expect in why, why


# --- the fixture ----------------------------------------------------------------------------------


def test_the_stored_fixture_is_a_fresh_build():
    assert differences(load(FIXTURE), build(HW2, REPO)) == []


@pytest.mark.parametrize("grade_id", sorted(CHECKS))
def test_the_visible_case_passes_against_the_stored_expectations(grade_id, reference):
    c = CHECKS[grade_id]
    inputs, expected = fixture_case(grade_id, FIXTURE)
    out = c.run(GOOD_CELLS.get(grade_id, reference), inputs)
    assert c.verdict(out, expected, inputs).ok
    if c.reference is not None:
        assert set(expected) == set(c.reference(inputs))
