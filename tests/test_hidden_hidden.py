"""Hidden cases stay hidden: nothing derived from a hidden case's inputs or expected outputs reaches
what the student sees (results.json, the feedback page, the gradebook, `course scores`, Gradescope's
results.json), whatever the student's code does to smuggle it out; the visible case keeps its full
diagnosis.

One hand-in (the reference library, changed) tries every way out at once, each on its own item:
a wrong shape only on hidden cases (the shape names the hidden dimensions), wrong values only there
(the message gives the difference), an exception whose message is the input and one whose class is
named after the dimensions, an exit code made of the dimensions, printing the input, and, in the
visible case, reading the other cases' inputs out of the process's memory.
"""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import copy_course
from kitcourse import ACT, KIT1, LINEAR, LOSS
from coursekit.autograde import sandbox
from coursekit.autograde.grader import Grader, GraderConfig
from coursekit.autograde.run import autograde
from coursekit.runtime.checks import fixture_case
from coursekit.samples import copy_release, hand_in_reference

if not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)

STUDENT = "smuggler"
# Items whose hidden cases the hand-in attacks (the MLPs fail too: they use Linear and ReLU).
ATTACKED = ("linear_forward", "linear_backward", "mse_forward", "mse_backward", "sigmoid", "tanh")
# A name built at run time reaches any module (tests/hostile.py): here, sys for its frames.
EVADE = ('_B = getattr(np, "_" * 2 + "builtins" + "_" * 2)\n'
         '_I = _B["_" * 2 + "import" + "_" * 2]\n')
PEEK = EVADE + '''

def _peek():
    """The shape of every array in any dict of dicts of arrays the calling frames hold."""
    found, frame = [], _I("sys")._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, dict):
                for inner in value.values():
                    if isinstance(inner, dict):
                        found += [tuple(a.shape) for a in inner.values() if hasattr(a, "shape")]
        frame = frame.f_back
    return sorted(set(found))
'''


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _shape(grade_id: str, name: str, course) -> tuple:
    return tuple(fixture_case(grade_id, course.source_file(KIT1.fixture))[0][name].shape)


def hand_in(course) -> Path:
    """The reference library, changed so that each attacked item fails only (or, for linear_backward's
    peek and relu, also) where it says, in a way that would print a hidden value."""
    dest = copy_release(course.folder("release", KIT1.name), course.folder("submitted", KIT1.name, STUDENT))
    hand_in_reference(KIT1, course.root, dest)
    # What the student knows: the shapes of the visible cases (the shipped fixture).
    lin, mse, mse_back = _shape("linear_forward", "A", course), _shape("mse_forward", "O", course), \
        _shape("mse_backward", "O", course)
    act = {_shape("sigmoid", "H", course), _shape("tanh", "H", course)}
    linear = dest / LINEAR
    linear.write_text(linear.read_text() + PEEK)
    _replace(linear, "        return A @ self.W + self.b.reshape(1, -1)\n",
             f"        O = A @ self.W + self.b.reshape(1, -1)\n"
             f"        return O if A.shape == {lin!r} else O[:, :-1]  # wrong shape, hidden cases only\n")
    _replace(linear, "        self.dLdW = self.A.T @ dLdO\n",
             '        raise ValueError(f"PEEK {_peek()}")  # every case, the visible one included\n'
             "        self.dLdW = self.A.T @ dLdO\n")
    loss = dest / LOSS
    _replace(loss, "        return float(np.mean((O - Y) ** 2))\n",
             f"        return float(np.mean((O - Y) ** 2)) + (0.0 if O.shape == {mse!r} else 0.0123457)\n")
    _replace(loss, "        return 2 * (self.O - self.Y) / self.O.size\n",
             f"        if self.O.shape != {mse_back!r}:  # an exit code made of the dims\n"
             "            raise SystemExit(self.O.shape[0] * 1000 + self.O.shape[1])\n"
             "        return 2 * (self.O - self.Y) / self.O.size\n")
    activation = dest / ACT
    _replace(activation, "        e = np.exp(-np.abs(H))\n",
             f"        if H.shape not in {sorted(act)!r}:\n"
             '            print("SECRET-PRINT", repr(H))\n'
             '            raise ValueError("SECRET-RAISE " + repr(H))\n'
             "        e = np.exp(-np.abs(H))\n")
    _replace(activation, "        self.A = np.tanh(H)\n",
             f"        if H.shape not in {sorted(act)!r}:\n"
             '            raise type(f"Dim{H.shape[0]}x{H.shape[1]}", (ValueError,), {})("SECRET-CLASS")\n'
             "        self.A = np.tanh(H)\n")
    _replace(activation, "np.maximum(", "1 + np.maximum(")  # relu: wrong on every case, the visible one too
    return dest


@pytest.fixture(scope="module")
def graded(kit_course, tmp_path_factory):
    course = copy_course(kit_course, tmp_path_factory.mktemp("hidden") / "course")
    hand_in(course)
    summary = autograde(KIT1, course, jobs=1, progress=False)
    assert summary.graded == [STUDENT]
    return course


@pytest.fixture(scope="module")
def secrets(graded):
    """What must never show: per hidden case of the attacked items, its arrays' shapes (those no
    public case shares), its dimensions as the hand-in spells them, and its values."""
    grader = Grader(KIT1, graded, GraderConfig.for_assignment(KIT1))
    references = grader.references()
    public_shapes, shapes, dims, values = set(), set(), set(), []
    for grade_id, plan in grader.plans.items():
        for name, (_, inputs) in plan.items():
            arrays = [*inputs.values(), *references.get(f"{grade_id}.{name}", {}).values()]
            if not name.startswith("hidden"):
                public_shapes |= {np.shape(a) for a in arrays}
                public_shapes |= {np.shape(a) for a in grader.visible[grade_id][1].values()}
            elif grade_id in ATTACKED:
                shapes |= {np.shape(a) for a in arrays if np.ndim(a) >= 2}
                main = inputs.get("O", inputs.get("H"))
                if main is not None:
                    n, q = main.shape
                    dims |= {f"{n * 1000 + q}", f"Dim{n}x{q}"}
                # Values of many digits (not one-hot targets, not 0.25): only such can be told apart.
                values += [float(v) for a in arrays for v in np.ravel(a)[:20]
                           if abs(v) > 1e-3 and len(repr(float(v))) > 8]
    shapes -= public_shapes
    assert shapes and dims and values
    return {"shapes": sorted(str(s) for s in shapes), "dims": sorted(dims), "values": values}


MARKERS = ("SECRET-PRINT", "SECRET-RAISE", "SECRET-CLASS", "array([")


def assert_nothing_hidden(text: str, secrets: dict, where: str, short: bool) -> None:
    """``short``: text with no arrays of the visible case in it (reasons, comments, the score table),
    where even a value rounded to 3 or 4 digits would be a leak; elsewhere (pages that show the
    visible case's arrays to 4 decimals) a value printed to 6 or more."""
    found = [m for m in MARKERS if m in text]
    found += [s for s in secrets["shapes"] if s in text]
    found += [d for d in secrets["dims"] if re.search(rf"(?<![\w.]){d}(?![\w.])", text)]
    tokens = set(re.findall(r"-?\d+\.\d+(?![\d.e])", text))
    for v in secrets["values"]:
        forms = {f"{v:.3g}", f"{v:.4g}", repr(v), f"{v:.6g}"} if short else {repr(v)}
        found += [f for f in forms if f in tokens and re.fullmatch(r"-?\d+\.\d{2,}.*", f)]
        if not short:
            found += [t for t in tokens if len(t.split(".")[1]) >= 6 and abs(float(t) - v) < 1e-6 * max(1, abs(v))]
    assert not found, f"{where} shows hidden-case data: {sorted(set(found))[:10]}"


def reasons(data: dict) -> str:
    """The short texts of results.json: each item's reason (its output's first line)."""
    return "\n".join(t["output"].split("\n")[0] for t in data["tests"]) + "\n" + data.get("output", "")


def test_hidden_failures_say_which_check_and_what_kind_never_a_value(graded):
    data = json.loads((graded.folder("autograded", KIT1.name, STUDENT) / "results.json").read_text())
    said = {t["name"]: t["output"].split("\n")[0] for t in data["tests"]}
    # The hidden cases per item are tests/kitcourse.py's TESTS: two for Linear and the activations,
    # one for each MSE item.
    assert said["linear_forward"] == "hidden case 1 of 2: O: wrong shape", said
    assert said["mse_forward"] == "hidden case 1 of 1: L: wrong values", said
    assert said["mse_backward"] == "hidden case 1 of 1: raised SystemExit", said
    assert said["sigmoid"] == "hidden case 1 of 2: raised ValueError", said
    # A class of the student's own, named after the dimensions: only that something was raised.
    assert said["tanh"] == "hidden case 1 of 2: raised an exception", said
    # The visible case keeps its full diagnosis: the student's own message, the difference.
    assert said["linear_backward"].startswith("visible case: ValueError: PEEK ["), said
    assert said["relu"].startswith("visible case: A: values differ, max |difference| = 1"), said
    assert all(t["score"] == 0 for t in data["tests"] if t["name"] in ATTACKED)


def test_nothing_of_a_hidden_case_in_results_or_feedback(graded, secrets):
    autograded = graded.folder("autograded", KIT1.name, STUDENT)
    data = json.loads((autograded / "results.json").read_text())
    assert_nothing_hidden(reasons(data), secrets, "results.json's reasons", short=True)
    for test in data["tests"]:
        assert_nothing_hidden(test["output"], secrets, f"results.json's {test['name']}", short=False)
    assert_nothing_hidden((autograded / "results.json").read_text(), secrets, "results.json", short=False)
    page = (graded.folder("feedback", KIT1.name, STUDENT) / "feedback.html").read_text()
    assert_nothing_hidden(page, secrets, "feedback.html", short=False)


def test_the_visible_case_cannot_read_the_hidden_inputs_from_memory(graded, secrets):
    """linear_backward's visible case lists every array shape its process holds: only public ones."""
    data = json.loads((graded.folder("autograded", KIT1.name, STUDENT) / "results.json").read_text())
    said = next(t["output"] for t in data["tests"] if t["name"] == "linear_backward").split("\n")[0]
    seen = said.split("PEEK ", 1)[1]
    assert "(" in seen  # it did find the visible case's arrays
    assert not [s for s in secrets["shapes"] if s in seen], seen


def test_nothing_of_a_hidden_case_in_the_gradebook_or_course_scores(graded, secrets, capsys):
    from coursekit.cli import main

    path = graded.db_url.split("sqlite:///", 1)[1]
    with sqlite3.connect(path) as db:
        comments = [c for row in db.execute("select auto_comment, manual_comment from comment") for c in row if c]
    assert_nothing_hidden("\n".join(comments), secrets, "the gradebook's comments", short=True)
    assert main(["--course", str(graded.root), "scores", KIT1.name]) == 0
    table = capsys.readouterr().out
    assert STUDENT in table
    assert_nothing_hidden(table, secrets, "course scores", short=True)


def test_gradescope_shows_nothing_of_a_hidden_case(graded, secrets, tmp_path):
    from test_gradescope import run_autograder, unzip

    from coursekit.gradescope import build

    source = unzip(build(KIT1, graded, tmp_path / "autograder.zip"), tmp_path / "source")
    root = tmp_path / "root"
    # The same hand-in, uploaded as its files.
    shutil.copytree(graded.folder("submitted", KIT1.name, STUDENT), root / "submission",
                    ignore=shutil.ignore_patterns("timestamp.txt"))
    data = run_autograder(source, root, python=sys.executable)
    data.pop("_run")
    said = {t["name"]: t["output"].split("\n")[0] for t in data["tests"]}
    assert said["linear_forward"] == "hidden case 1 of 2: O: wrong shape", said
    assert said["relu"].startswith("visible case: A: values differ"), said
    assert_nothing_hidden(reasons(data), secrets, "Gradescope's reasons", short=True)
    assert_nothing_hidden(json.dumps(data), secrets, "Gradescope's results.json", short=False)


def test_one_gate_for_what_a_hidden_case_may_say():
    """Categories come from the fixed words only: an exception class of the student's own (named after
    a value, or after a built-in), a forged category, a compare function's message: "wrong answer"."""
    from coursekit.autograde.grader import Failure
    from coursekit.runtime.checks import Verdict, compare_arrays, public_category, raised_category

    assert raised_category(ValueError) == "raised ValueError"
    assert raised_category(type("E7x3", (Exception,), {})) == "raised an exception"
    assert raised_category(type("ValueError", (ValueError,), {})) == "raised an exception"
    assert raised_category(NotImplementedError) == "not implemented yet"
    assert Failure("ValueError: [0.123]", "raised ValueError").category == "raised ValueError"
    assert Failure("anything", "raised E7x3").category == "wrong answer"
    assert Failure("anything", "dW: wrong shape").category == "wrong answer"  # the harness names no output
    assert public_category("dW: wrong shape (7, 3)", named=True) == "wrong answer"
    assert Verdict(False, "W: std 0.0812, expected 0.1").public == "wrong answer"
    verdict = compare_arrays({"dW": np.zeros((7, 3))}, {"dW": np.zeros((7, 4))})
    assert "(7, 3)" in verdict.message and verdict.public == "dW: wrong shape"
