"""hw1's checks close the gaps issue 20 measured: a new Linear's bias must have the shape the spec
gives it ((h,), or the row (1, h) the spec calls not wrong); a column (h, 1) -- right zeros, broken
training -- loses ``linear_init``, and only it, with a reason naming the shape on the visible case
and on hidden cases alike.  A transposed gradient is named as such."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import mytorch
from coursekit import mutants
from coursekit.autograde.cases import read_cases
from coursekit.course import Course
from coursekit.library.view import reference_file
from coursekit.runtime.checks import (SHIPPED, WRONG_SHAPE, WRONG_SHAPE_EXTRA_AXIS, WRONG_SHAPE_TRANSPOSED,
                                      fixture_case, load_module)
from coursekit.runtime.checks.library import imported, package_sources

from conftest import HW1, REPO

CHECKS = load_module(REPO / HW1.checks)
sys.modules.setdefault(SHIPPED, CHECKS)
REGISTRY = CHECKS.checks
HIDDEN = {g: [c for c in cases if c] for g, cases in read_cases(HW1, REPO / "source" / "hw1").items()}


def every_case(grade_id: str) -> list[dict]:
    return [dict(seed=s) for s in range(3)] + HIDDEN[grade_id] + [dict(visible=True)]


def verdict(grade_id: str, mt, case: dict):
    c, case = REGISTRY[grade_id], dict(case)
    if case.pop("visible", False):
        x, expected = fixture_case(grade_id, REPO / HW1.fixture)
    else:
        x = c.inputs(**case)
        expected = c.reference(x) if c.reference else {}
    return c.verdict(c.run(mt, x), expected, x)


@pytest.fixture
def library(monkeypatch):
    """The reference library with some classes swapped, everywhere they are used."""

    def swap(**overrides):
        for name, cls in overrides.items():
            for module in (mytorch.nn, mytorch.models, mytorch.models.mlp):
                if hasattr(module, name):
                    monkeypatch.setattr(module, name, cls)
        return mytorch

    return swap


def linear_with_bias(shape):
    class Linear(mytorch.nn.Linear):
        def __init__(self, d, h):
            super().__init__(d, h)
            self.b = np.zeros(shape(h))

    return Linear


@pytest.mark.parametrize("shape", [lambda h: (h,), lambda h: (1, h)], ids=["(h,)", "(1, h)"])
def test_a_bias_of_the_spec_shape_earns_linear_init(shape, library):
    mt = library(Linear=linear_with_bias(shape))
    for case in every_case("linear_init"):
        v = verdict("linear_init", mt, case)
        assert v.ok, (case, v.message)


def test_a_column_bias_loses_exactly_linear_init_and_says_why(library):
    mt = library(Linear=linear_with_bias(lambda h: (h, 1)))
    for case in every_case("linear_init"):
        v = verdict("linear_init", mt, case)
        assert not v.ok and v.category == f"b: {WRONG_SHAPE_EXTRA_AXIS}" and v.public == v.category, case
        assert "b: shape (" in v.message and ", 1), expected" in v.message and "extra axis" in v.message
    # Every other item sets b itself, as the testers do: they are not this mistake's to lose.
    others = [i.grade_id for i in HW1.items if i.grade_id != "linear_init"]
    assert [g for g in others if not verdict(g, mt, dict(seed=5)).ok] == []


class TransposedGradient(mytorch.nn.Linear):
    def backward(self, dLdO):
        dLdA = super().backward(dLdO)
        self.dLdW = dLdO.T @ self.A  # (h, d): PyTorch's weight layout, not the handout's
        return dLdA


def test_a_transposed_weight_gradient_is_named_transposed(library):
    mt = library(Linear=TransposedGradient)
    for case in HIDDEN["linear_backward"] + [dict(visible=True)]:  # no square W among them
        v = verdict("linear_backward", mt, case)
        assert not v.ok and v.category == f"dLdW: {WRONG_SHAPE_TRANSPOSED}" and "transposed" in v.message, case


# --- an MLP of the wrong architecture: its layers' sizes, before the check sets W and b ---------------


def mlp4_from_sizes(second: slice):
    """MLP4 built from ``sizes``, its layers' output sizes sliced by ``second`` (the spec: 1:)."""

    class MLP4(mytorch.models.MLP4):
        def __init__(self, num_inputs, num_outputs, num_hidden):
            sizes = [num_inputs] + [num_hidden] * 4 + [num_outputs]
            self.layers = [mytorch.nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[second])]
            self.f = [mytorch.nn.ReLU() for _ in range(4)] + [mytorch.nn.Identity()]

    return MLP4


def test_an_mlp_with_layers_of_the_wrong_size_loses_exactly_its_item_and_names_the_layer(library):
    # issue 20's m062: zip(sizes[:-1], sizes[0:]) makes Linear(in, in), ..., Linear(h, h); the check
    # used to overwrite every W and b before looking, so the model passed.
    mt = library(MLP4=mlp4_from_sizes(slice(0, None)))
    cases = every_case("mlp4")
    for case in cases:
        v = verdict("mlp4", mt, case)
        x = fixture_case("mlp4", REPO / HW1.fixture)[0] if case.get("visible") else REGISTRY["mlp4"].inputs(**case)
        d, h = x["X"].shape[1], int(x["h"])
        o = x["dLdA"].shape[1]
        if d == h == o:  # every layer square: the wrong slice builds the right model
            assert v.ok, case
            continue
        layer = 0 if d != h else 4
        assert not v.ok and v.category == f"W{layer}: {WRONG_SHAPE}" and v.public == v.category, (case, v.message)
        assert f"layers[{layer}].W: shape" in v.message and "Linear(" in v.message, v.message
    assert all(not verdict("mlp4", mt, case).ok for case in HIDDEN["mlp4"] + [dict(visible=True)])
    assert [g for g in ("mlp0", "mlp1") if not verdict(g, mt, dict(seed=5)).ok] == []


def test_the_spec_architecture_written_out_layer_by_layer_earns_mlp4(library):
    mt = library(MLP4=mlp4_from_sizes(slice(1, None)))
    assert [case for case in every_case("mlp4") if not verdict("mlp4", mt, case).ok] == []


class PyTorchLayoutInit(mytorch.nn.Linear):
    def __init__(self, d, h):
        super().__init__(d, h)
        self.W = np.random.normal(0.0, 0.1, size=(h, d))  # torch.nn.Linear.weight's layout


def test_a_linear_of_pytorchs_weight_layout_loses_linear_init_not_the_mlps(library):
    # W's orientation is Linear.__init__'s to grade; the MLP checks compare the model's layers with
    # what the student's own Linear(m, n) makes, so one mistake costs one item.
    mt = library(Linear=PyTorchLayoutInit)
    assert not verdict("linear_init", mt, dict(visible=True)).ok
    for g in ("mlp0", "mlp1", "mlp4"):
        assert [case for case in every_case(g) if not verdict(g, mt, case).ok] == [], g


# --- cross-entropy: logits of a few hundred are graded, 1e3 stays advice ---------------------------------


def cross_entropy(shift):
    """Cross-entropy as students write it: the log of a softmax, ``shift(O)`` taken off each row first."""

    class CrossEntropyLoss:
        def forward(self, O, Y):
            self.O, self.Y = O, Y
            e = np.exp(O - shift(O))
            self.softmax = e / np.sum(e, axis=1, keepdims=True)
            return np.mean(np.sum(-Y * np.log(self.softmax), axis=1))

        def backward(self):
            return (self.softmax - self.Y) / self.O.shape[0]

    return CrossEntropyLoss


ROW_MAX = {"unshifted": lambda O: 0.0, "shifted by the row maximum": lambda O: O.max(axis=1, keepdims=True)}
CE = ("ce_forward", "ce_backward")


def large_logits(case: dict) -> bool:
    return case.get("offset", 0) >= CHECKS.LARGE_LOGITS


def test_every_cross_entropy_item_grades_one_hidden_case_of_large_logits():
    for g in CE:
        assert [c for c in HIDDEN[g] if large_logits(c)], g
        x = REGISTRY[g].inputs(**next(c for c in HIDDEN[g] if large_logits(c)))
        # Large enough that doubling them overflows exp(), small enough that exp() of them does not.
        assert 355 < x["O"].max(axis=1).min() and x["O"].max() < 700


@pytest.mark.parametrize("shift", sorted(ROW_MAX))
def test_cross_entropy_with_or_without_the_shift_earns_both_items(shift, library):
    mt = library(CrossEntropyLoss=cross_entropy(ROW_MAX[shift]))
    with np.errstate(all="raise"):  # no overflow on graded inputs, shifted or not
        assert {g: [c for c in every_case(g) if not verdict(g, mt, c).ok] for g in CE} == {g: [] for g in CE}


def test_a_shift_of_the_wrong_sign_loses_both_items_on_the_large_logits_only(library):
    # issue 20's m023: O + max instead of O - max; only the advice (1e3) told before.
    mt = library(CrossEntropyLoss=cross_entropy(lambda O: -O.max(axis=1, keepdims=True)))
    for g in CE:
        with np.errstate(all="ignore"):
            lost = [c for c in every_case(g) if not verdict(g, mt, c).ok]
        assert lost and all(large_logits(c) for c in lost), (g, lost)


# --- correct variants students write earn every item their code runs --------------------------------


def variant_libraries(assignment) -> list[tuple[str, tuple[str, ...], dict[str, str]]]:
    """(name, grade ids of the items its file runs, the library's sources) for each of the samples
    module's VARIANTS, read the way `course mutants --variants` reads them."""
    course = Course(REPO)
    found = mutants.targets(assignment, course)
    items = {t.key: t.items for t in found}
    texts = {rel: reference_file(assignment, REPO, rel) for rel in assignment.student_files}
    out = []
    for name, key, files in mutants.correct_variants(assignment, course, found):
        sources = package_sources(assignment.student_files, texts | files, {}, assignment.student_files)
        out.append((name, items[key], sources))
    return out


def test_every_correct_variant_earns_every_item_its_file_runs():
    variants = variant_libraries(HW1)
    assert len(variants) >= 8
    for name, grade_ids, sources in variants:
        with imported(HW1.package, sources) as mt:
            lost = {g: [c for c in every_case(g) if not verdict(g, mt, c).ok] for g in grade_ids}
        assert lost == {g: [] for g in grade_ids}, name
