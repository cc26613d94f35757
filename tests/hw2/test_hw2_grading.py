"""hw2 graded end to end in the sandbox: the reference, the blank release, the typical mistakes,
and hostile code in the two notebook solution cells.

Expected scores are derived by hand from the spec's points: the reference earns every
autograded point (50) with the 10 written points awaiting a grader; the release earns nothing;
each typical mistake costs the items listed beside it in ``source/hw2/samples.py`` (their sum,
checked here against the spec's table); a hostile cell earns nothing for its item and changes
no other item.
"""
from __future__ import annotations

import dataclasses

import nbformat
import pytest

from coursekit.assignment import load_assignment
from coursekit.autograde.grader import Grader, GraderConfig
from coursekit.course import Course
from coursekit.release import release
from coursekit.samples import copy_release, hand_in_reference, make_samples, typical_bugs

from conftest import REPO

HW2 = load_assignment(REPO, "hw2")
POINTS = {"activations_vjp": 3, "gelu": 4, "softmax": 5, "bce_forward": 2, "bce_backward": 3,
          "batchnorm_train": 4, "batchnorm_eval": 2, "batchnorm_backward": 6, "sgd_momentum": 4, "adam": 5,
          "dropout": 4, "numerical_grad": 4, "train_epoch": 4}  # the spec's table
WRITTEN = {"softmax_jacobian": 3, "concepts": 3, "batchnorm_derivation": 4}

HONEST_GRAD = '''import numpy as np


def numerical_grad(f, X, eps=1e-6):
    grad = np.zeros(X.shape)
    for i in np.ndindex(X.shape):
        old = X[i]
        X[i] = old + eps
        up = float(f(X))
        X[i] = old - eps
        down = float(f(X))
        X[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad
'''
HOSTILE_CELLS = {
    # cell: (source of the numerical_grad_code cell, words the item's reason must hold)
    "imports_os": ("import os\n" + HONEST_GRAD, "imports 'os'"),
    "imports_torch": ("import torch\n" + HONEST_GRAD, "imports 'torch'"),
    "patches_numpy": (HONEST_GRAD + "\nnp.allclose = lambda *a, **k: True\n", "changes numpy itself"),
    "reads_files": (HONEST_GRAD + "\nSECRET = open('/etc/passwd').read()\n", "calls open()"),
    "exits_early": (HONEST_GRAD.replace("    grad = np.zeros", "    raise SystemExit(0)\n    grad = np.zeros"),
                    "SystemExit"),
    "loops_forever": (HONEST_GRAD.replace("    grad = np.zeros", "    while True:\n        pass\n    grad = np.zeros"),
                      "stopped after"),
    "wrong_on_purpose": ("import numpy as np\n\n\ndef numerical_grad(f, X, eps=1e-6):\n    return np.zeros_like(X)\n",
                         "values differ"),
    "hides_a_name": (HONEST_GRAD + "\n_g = __builtins__\n", "interpreter internal"),
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = Course.copy_of(REPO, tmp_path_factory.mktemp("hw2") / "course")
    release(HW2, course, force=True)
    make_samples(HW2, course)
    for name, (source, _) in HOSTILE_CELLS.items():
        folder = copy_release(course.folder("release", "hw2"), course.folder("submitted", "hw2", name))
        hand_in_reference(HW2, course.repo, folder)
        set_cell(folder / "GradCheckTester.ipynb", "numerical_grad_code", source)
    return course


def set_cell(path, grade_id: str, source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = source
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def grader(course):
    config = GraderConfig.for_assignment(HW2)
    # An endless cell waits for its item's wall-clock limit: keep it short here.
    config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, wall_seconds=8, cpu_seconds=8))
    return Grader(HW2, course, config)


@pytest.fixture(scope="module")
def results(grader, course):
    students = ["reference", "blank", "buggy", *HOSTILE_CELLS]
    return {s: grader.grade(s) for s in students}


def scores(result) -> dict[str, float]:
    return {i.grade_id: i.points for i in result.items}


def test_the_declaration_is_the_spec():
    assert {i.grade_id: i.points for i in HW2.auto_items} == POINTS
    assert {i.grade_id: i.points for i in HW2.manual_items} == WRITTEN
    assert HW2.total_points == 60 and HW2.auto_points == 50


def test_the_reference_earns_every_autograded_point_and_awaits_the_written_ones(results):
    assert scores(results["reference"]) == POINTS
    assert results["reference"].written == {g: "answered" for g in WRITTEN}


def test_the_release_earns_nothing(results):
    assert scores(results["blank"]) == {g: 0 for g in POINTS}
    assert results["blank"].written == {g: "unanswered" for g in WRITTEN}


def test_each_typical_mistake_costs_exactly_its_items(results, course):
    costs = {g for *_, items in typical_bugs(HW2, course) for g in items}
    # The spec's typical mistakes, by the items they touch (Softmax without the shift costs nothing).
    assert costs == {"gelu", "batchnorm_train", "batchnorm_backward", "sgd_momentum", "adam", "dropout",
                     "train_epoch"}
    assert scores(results["buggy"]) == {g: (0 if g in costs else p) for g, p in POINTS.items()}
    assert sum(scores(results["buggy"]).values()) == 50 - sum(POINTS[g] for g in costs)


def test_softmax_without_the_shift_loses_nothing_and_gets_the_advice(results):
    softmax = next(i for i in results["buggy"].items if i.grade_id == "softmax")
    assert softmax.points == 5 and softmax.advice and "1e3" in softmax.advice[0]
    assert not next(i for i in results["reference"].items if i.grade_id == "softmax").advice


@pytest.mark.parametrize("student", sorted(HOSTILE_CELLS))
def test_hostile_code_in_a_solution_cell_earns_nothing_for_its_item_and_costs_nothing_else(results, student):
    got = scores(results[student])
    assert got == {**POINTS, "numerical_grad": 0}, got
    reason = next(i.reason for i in results[student].items if i.grade_id == "numerical_grad")
    assert HOSTILE_CELLS[student][1] in reason, reason
