"""hw1's checks close the gaps issue 20 measured: a new Linear's bias must have the shape the spec
gives it ((h,), or the row (1, h) the spec calls not wrong); a column (h, 1) -- right zeros, broken
training -- loses ``linear_init``, and only it, with a reason naming the shape on the visible case
and on hidden cases alike.  A transposed gradient is named as such."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import mytorch
from coursekit.autograde.cases import read_cases
from coursekit.runtime.checks import SHIPPED, WRONG_SHAPE_EXTRA_AXIS, WRONG_SHAPE_TRANSPOSED, fixture_case, load_module

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
            for module in (mytorch.nn, mytorch.models.mlp):
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
