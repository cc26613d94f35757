"""One library that grows across the course: assignment-scoped regions, per-assignment releases,
the validator's checks on them, and the scan that keeps a later assignment out of an earlier release.

A synthetic course with two assignments, a1 and a2, sharing one library: a2 adds a class to
``mylib/act.py``, changes ``Sig.backward``'s signature (``### BEGIN UNTIL a1`` / ``### BEGIN FROM a2``),
adds a file and re-exports its new classes from the given ``mylib/__init__.py``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.course import Course
from coursekit import release as rel
from coursekit.library import view
from coursekit.library.stub import StubError, scope_text, stub_source
from coursekit.library.markers import Scope, course_order, find_scopes
from coursekit.validate import ValidationError, validate

from conftest import HW1, fake_nbgrader

REPO = Path(__file__).resolve().parent.parent

ACT = '''"""Activations. (A Softmax is another story.)"""
import numpy as np
### BEGIN FROM a2
import math
### END FROM


class Sig:
    """A = 1 / (1 + exp(-Z)), element-wise."""

    def forward(self, Z):
        """Z -> A, same shape."""
        ### BEGIN SOLUTION
        self.A = 1 / (1 + np.exp(-Z))
        return self.A
        ### END SOLUTION

    ### BEGIN UNTIL a1
    def backward(self):
        """-> dA/dZ, same shape as Z."""
        ### BEGIN SOLUTION
        return self.A * (1 - self.A)
        ### END SOLUTION
    ### END UNTIL
    ### BEGIN FROM a2
    def backward(self, dLdA=None):
        """-> dL/dZ = dLdA * dA/dZ; without dLdA, dA/dZ (hint: A(1 - A) reuses forward's A)."""
        ### BEGIN SOLUTION
        grad = self.A * (1 - self.A)
        return grad if dLdA is None else dLdA * grad
        ### END SOLUTION
    ### END FROM


class Softmax:
    """Row-wise softmax, new in a2."""

    def forward(self, Z):
        """Z: (N, C) -> A: (N, C), rows summing to 1."""
        ### BEGIN SOLUTION
        e = np.exp(Z - Z.max(axis=1, keepdims=True))
        self.A = e / e.sum(axis=1, keepdims=True)
        return self.A
        ### END SOLUTION
'''

# Written by hand: what a1's students get, exactly as if a2 did not exist.
EXPECTED_A1 = '''"""Activations. (A Softmax is another story.)"""
import numpy as np


class Sig:
    """A = 1 / (1 + exp(-Z)), element-wise."""

    def forward(self, Z):
        """Z -> A, same shape."""
        # YOUR CODE HERE
        raise NotImplementedError("Sig.forward is not implemented yet")

    def backward(self):
        """-> dA/dZ, same shape as Z."""
        # YOUR CODE HERE
        raise NotImplementedError("Sig.backward is not implemented yet")
'''

# And a2's: the a1 parts as stubs again (students bring their own code), with a2's signature.
EXPECTED_A2 = '''"""Activations. (A Softmax is another story.)"""
import numpy as np
import math


class Sig:
    """A = 1 / (1 + exp(-Z)), element-wise."""

    def forward(self, Z):
        """Z -> A, same shape."""
        # YOUR CODE HERE
        raise NotImplementedError("Sig.forward is not implemented yet")

    def backward(self, dLdA=None):
        """-> dL/dZ = dLdA * dA/dZ; without dLdA, dA/dZ (hint: A(1 - A) reuses forward's A)."""
        # YOUR CODE HERE
        raise NotImplementedError("Sig.backward is not implemented yet")


class Softmax:
    """Row-wise softmax, new in a2."""

    def forward(self, Z):
        """Z: (N, C) -> A: (N, C), rows summing to 1."""
        # YOUR CODE HERE
        raise NotImplementedError("Softmax.forward is not implemented yet")
'''

EXTRA = '''class Extra:
    """Something only a2 asks for."""

    def run(self):
        ### BEGIN SOLUTION
        return 6 * 7
        ### END SOLUTION
'''

INIT = '''from mylib.act import Sig
### BEGIN FROM a2
from mylib.act import Softmax
from mylib.extra import Extra
### END FROM
'''

A1_TOML = '''title = "Part 1"
notebooks = ["Act"]
checks = "source/a1/checks.py"

[library]
package = "mylib"
[library.student]
"mylib/act.py" = ["Sig"]
[library.given]
files = ["mylib/__init__.py"]

[[items]]
grade_id = "sig"
points = 2
notebook = "Act"
files = ["mylib/act.py"]
'''

A2_TOML = '''title = "Part 2"
notebooks = ["Act2"]
checks = "source/a2/checks.py"

[library]
package = "mylib"
[library.student]
"mylib/act.py" = ["Sig", "Softmax"]
"mylib/extra.py" = ["Extra"]
[library.given]
files = ["mylib/__init__.py"]

[[items]]
grade_id = "softmax"
points = 3
notebook = "Act2"
files = ["mylib/act.py"]

[[written]]
grade_id = "why"
points = 1
notebook = "Act2"
'''

CHECKS = '''import numpy as np
from coursekit.runtime.checks import Check, Checks

checks = Checks()
checks.add(Check("{g}", "{g}", lambda rng, shape: {{"z": np.ones((2, 3))}},
                 lambda mt, x: {{"a": mt.{cls}().forward(x["z"])}}, lambda x: {{"a": x["z"]}}))
'''

MODEL_ANSWER = "Subtracting the row maximum multiplies numerator and denominator by the same exp(-m)."
A2_HIDDEN = "check('softmax', seed=20240917)"


def meta(grade_id: str, *, points: int, solution: bool = False) -> dict:
    return {"nbgrader": {"grade": True, "grade_id": grade_id, "locked": not solution, "points": points,
                         "schema_version": 3, "solution": solution, "task": False}}


def write_notebook(path: Path, *cells) -> None:
    nb = new_notebook(cells=[new_markdown_cell("# A tester"), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def write_course(root: Path) -> Path:
    (root / "mylib").mkdir(parents=True)
    (root / "mylib" / "act.py").write_text(ACT)
    (root / "mylib" / "extra.py").write_text(EXTRA)
    (root / "mylib" / "__init__.py").write_text(INIT)
    for name, toml, grade_id, cls in (("a1", A1_TOML, "sig", "Sig"), ("a2", A2_TOML, "softmax", "Softmax")):
        (root / "source" / name).mkdir(parents=True)
        (root / "source" / name / "assignment.toml").write_text(toml)
        (root / "source" / name / "checks.py").write_text(CHECKS.format(g=grade_id, cls=cls))
    write_notebook(root / "source" / "a1" / "Act.ipynb", new_code_cell(
        "from mylib import Sig\ncheck('sig')\n### BEGIN HIDDEN TESTS\ncheck('sig', seed=11)\n### END HIDDEN TESTS",
        metadata=meta("sig", points=2)))
    write_notebook(root / "source" / "a2" / "Act2.ipynb",
                   new_code_cell(f"from mylib import Softmax\ncheck('softmax')\n### BEGIN HIDDEN TESTS\n{A2_HIDDEN}\n"
                                 "### END HIDDEN TESTS", metadata=meta("softmax", points=3)),
                   new_markdown_cell(MODEL_ANSWER, metadata=meta("why", points=1, solution=True)))
    return root


@pytest.fixture
def course(tmp_path, monkeypatch) -> Course:
    monkeypatch.setattr(rel, "run_generate_assignment", fake_nbgrader)
    return Course(write_course(tmp_path / "course"))


def released(course: Course, name: str) -> Path:
    return rel.release(course.assignment(name), course, force=True)


def text_files(folder: Path) -> dict[str, str]:
    out = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".txt"):
            out[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
    return out


# --- the releases -----------------------------------------------------------------------


def test_a1_release_is_exactly_the_a1_view(course):
    dest = released(course, "a1")
    assert (dest / "mylib" / "act.py").read_bytes() == EXPECTED_A1.encode()
    assert (dest / "mylib" / "__init__.py").read_bytes() == b"from mylib.act import Sig\n"
    assert not (dest / "mylib" / "extra.py").exists()
    assert sorted(p.relative_to(dest).as_posix() for p in (dest / "mylib").rglob("*")) == [
        "mylib/__init__.py", "mylib/act.py"]
    # Nothing a2 adds, and no scope marker, anywhere in a1's release.
    for rel_path, text in text_files(dest).items():
        for needle in ("dLdA", "class Softmax", "Extra", "import math", "FROM a2", "UNTIL a1", "hint:", "6 * 7",
                       MODEL_ANSWER[:30], A2_HIDDEN):
            assert needle not in text, (rel_path, needle)
    assert rel.scan_release(course.assignment("a1"), course) == []


def test_a2_release_has_both_parts_stubbed_with_a2s_signature(course):
    dest = released(course, "a2")
    assert (dest / "mylib" / "act.py").read_bytes() == EXPECTED_A2.encode()
    assert (dest / "mylib" / "__init__.py").read_text() == (
        "from mylib.act import Sig\nfrom mylib.act import Softmax\nfrom mylib.extra import Extra\n")
    extra = (dest / "mylib" / "extra.py").read_text()
    assert 'raise NotImplementedError("Extra.run is not implemented yet")' in extra and "6 * 7" not in extra
    for text in text_files(dest).values():
        assert "BEGIN FROM" not in text and "BEGIN UNTIL" not in text and "END FROM" not in text
        assert "return self.A * (1 - self.A)" not in text  # a1's solution is a secret of a2's release too
    nb = nbformat.read(dest / "Act2.ipynb", as_version=4)
    assert nb.cells[2].source == "YOUR ANSWER HERE"


def test_the_grader_stubs_as_the_release_does(course):
    """The grader calls student_stub without an order: it comes from the declaration's course."""
    for name, expected in (("a1", EXPECTED_A1), ("a2", EXPECTED_A2)):
        assert view.student_stub(course.assignment(name), "mylib/act.py", ACT) == expected


def test_the_reference_imports_and_behaves_as_a2(tmp_path):
    root = write_course(tmp_path / "course")
    spec = importlib.util.spec_from_file_location("growth_act", root / "mylib" / "act.py")
    act = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(act)
    assert list(inspect.signature(act.Sig.backward).parameters) == ["self", "dLdA"]
    sig = act.Sig()
    z = np.array([[-1.0, 0.0, 2.0]])
    a = sig.forward(z)
    assert np.allclose(sig.backward(), a * (1 - a))  # a1's call still answers
    assert np.allclose(sig.backward(np.full_like(z, 3.0)), 3 * a * (1 - a))
    assert np.allclose(act.Softmax().forward(z).sum(axis=1), 1)


def test_both_sources_validate(course):
    assert validate(course.assignment("a1"), course.repo) == []
    assert validate(course.assignment("a2"), course.repo) == []


# --- the order and the regions ------------------------------------------------------------


def test_the_course_order_is_natural(tmp_path):
    for name in ("hw10", "hw2", "hw1", "Intro"):
        (tmp_path / "source" / name).mkdir(parents=True)
        (tmp_path / "source" / name / "assignment.toml").write_text("")
    assert course_order(tmp_path) == ["hw1", "hw2", "hw10", "Intro"]
    assert course_order(tmp_path, "hw3") == ["hw1", "hw2", "hw3", "hw10", "Intro"]


def test_from_and_until_across_three_assignments():
    order = ["hw1", "hw2", "hw10"]
    text = ("a = 0\n### BEGIN UNTIL hw2\nb = 1\n### END UNTIL\n"
            "### BEGIN FROM hw2\nc = 2\n### END FROM\n### BEGIN FROM hw10\nd = 3\n### END FROM\n")
    assert scope_text(text, "hw1", order, "m.py") == "a = 0\nb = 1\n"
    assert scope_text(text, "hw2", order, "m.py") == "a = 0\nb = 1\nc = 2\n"
    assert scope_text(text, "hw10", order, "m.py") == "a = 0\nc = 2\nd = 3\n"
    assert find_scopes(text.splitlines())[0][0] == Scope(1, 3, "UNTIL", "hw2")


def test_a_dropped_region_leaves_no_doubled_blank_lines():
    text = "class A:\n    pass\n\n\n### BEGIN FROM a2\nclass B:\n    pass\n### END FROM\n\n\nclass C:\n    pass\n"
    assert scope_text(text, "a1", ["a1", "a2"], "m.py") == "class A:\n    pass\n\n\nclass C:\n    pass\n"
    assert scope_text(text, "a2", ["a1", "a2"], "m.py") == (
        "class A:\n    pass\n\n\nclass B:\n    pass\n\n\nclass C:\n    pass\n")


def test_a_file_without_scopes_is_kept_byte_for_byte_and_crlf_survives():
    text = "x = 1\r\n### BEGIN FROM a2\r\ny = 2\r\n### END FROM a2\r\n"
    assert scope_text(text, "a1", ["a1", "a2"], "m.py") == "x = 1\r\n"
    assert scope_text(text, "a2", ["a1", "a2"], "m.py") == "x = 1\r\ny = 2\r\n"
    plain = "z = 'FROM here UNTIL there'\n"
    assert scope_text(plain, "a1", ["a1"], "m.py") is plain


HW1_BEFORE_HW2 = json.loads((REPO / "tests" / "data" / "hw1_release_view.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", HW1.student_files + HW1.library_files)
def test_hw1s_reference_files_release_as_before(path):
    """hw2 grew the library, and hw1's release is byte for byte what it was before hw2: hw1's
    view of each of its files, and the stub it releases of each student file, hash to the
    snapshot taken before hw2's code went in (tests/data/hw1_release_view.json)."""
    text = (REPO / path).read_text(encoding="utf-8")
    order = view.order_of(HW1)
    assert order[:2] == ["hw1", "hw2"]
    assert set(HW1_BEFORE_HW2) == set(HW1.student_files + HW1.library_files)
    assert sha256(scope_text(text, "hw1", order, path)) == HW1_BEFORE_HW2[path]["view"]
    if path in HW1.student_files:
        assert sha256(view.student_stub(HW1, path, text)) == HW1_BEFORE_HW2[path]["stub"]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the validator ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "broken, line, needle",
    [
        (ACT.replace("    ### END FROM\n", ""), 25, "'BEGIN FROM' without a matching 'END FROM'"),
        (ACT.replace("### BEGIN FROM a2\nimport math", "import math"), 4, "'END FROM' without a matching 'BEGIN FROM'"),
        (ACT.replace("### BEGIN FROM a2\nimport math", "### BEGIN FROM a3\nimport math"), 3,
         "'BEGIN FROM a3' names no assignment of the course (it has: a1, a2)"),
        (ACT.replace("    ### BEGIN UNTIL a1\n", "    ### BEGIN UNTIL\n"), 18, "must stand alone on its line as "
                                                                              "'### BEGIN UNTIL <assignment>'"),
        (ACT.replace("    ### END UNTIL\n", "    ### END FROM\n"), 24, "'END FROM' closes the 'BEGIN UNTIL' region"),
        (ACT.replace("        ### END SOLUTION\n    ### END UNTIL\n", "    ### END UNTIL\n        ### END SOLUTION\n"),
         21, "crosses the edge of the 'BEGIN UNTIL a1' region"),
        (ACT.replace("    ### BEGIN FROM a2\n    def backward", "    ### BEGIN FROM a2\n    ### BEGIN UNTIL a1\n"
                     "    def backward"), 26, "scoped regions do not nest"),
    ],
    ids=["unpaired-begin", "unpaired-end", "unknown-assignment", "no-assignment", "wrong-end", "crossing", "nested"],
)
def test_bad_scope_markers_are_refused_with_file_and_line(course, broken, line, needle):
    (course.repo / "mylib" / "act.py").write_text(broken)
    for name in ("a1", "a2"):
        problems = [p for p in validate(course.assignment(name), course.repo) if needle in p.message]
        assert [p.file for p in problems] == ["mylib/act.py"], validate(course.assignment(name), course.repo)
        assert str(problems[0]).startswith(f"mylib/act.py: line {line}: ")
    with pytest.raises(ValidationError, match=rf"mylib/act.py: line {line}: "):
        released(course, "a1")
    assert not rel.release_dir(course.assignment("a1"), course).exists()
    with pytest.raises(StubError, match=rf"mylib/act.py:{line}: "):
        view.student_stub(course.assignment("a1"), "mylib/act.py", broken)


def test_a_view_that_does_not_compile_is_refused(course):
    # The whole body of a method in a FROM region: a1's view has a def without a body.
    broken = ACT.replace("        ### BEGIN SOLUTION\n        self.A = 1 / (1 + np.exp(-Z))\n"
                         "        return self.A\n        ### END SOLUTION\n",
                         "        ### BEGIN FROM a2\n        return Z\n        ### END FROM\n", 1)
    broken = broken.replace('        """Z -> A, same shape."""\n', "", 1)
    (course.repo / "mylib" / "act.py").write_text(broken)
    problems = validate(course.assignment("a1"), course.repo)
    assert any(p.file == "mylib/act.py" and p.message.startswith("as a1 releases it: mylib/act.py:")
               and "does not compile" in p.message for p in problems), problems
    assert not any("as a2 releases it" in str(p) for p in validate(course.assignment("a2"), course.repo))


def test_a_class_no_assignment_declares_is_a_problem(course):
    (course.repo / "mylib" / "act.py").write_text(ACT + '\n\ndef helper(x):\n    return x\n')
    for name in ("a1", "a2"):
        problems = validate(course.assignment(name), course.repo)
        assert [str(p) for p in problems] == [
            "mylib/act.py: line 47: function helper is declared by no assignment of the course ([library.student]), "
            "so it would never be released"]


def test_library_files_only_a_later_assignment_declares_are_fine_and_undeclared_ones_are_not(course):
    assert validate(course.assignment("a1"), course.repo) == []  # mylib/extra.py is a2's
    (course.repo / "mylib" / "stray.py").write_text("Y = 1\n")
    problems = validate(course.assignment("a1"), course.repo)
    assert [(p.file, "would not be released" in p.message) for p in problems] == [("mylib/stray.py", True)]


def test_a_declared_class_out_of_the_assignments_scope_is_a_problem(course):
    toml = course.repo / "source" / "a1" / "assignment.toml"
    toml.write_text(A1_TOML.replace('"mylib/act.py" = ["Sig"]', '"mylib/act.py" = ["Sig", "Softmax"]'))
    (course.repo / "mylib" / "act.py").write_text(ACT.replace("class Softmax:", "### BEGIN FROM a2\nclass Softmax:")
                                                  + "### END FROM\n")
    problems = validate(course.assignment("a1"), course.repo)
    assert any("declared with Softmax, which it does not define in a1's view" in p.message for p in problems), problems


# --- the scan -----------------------------------------------------------------------------


def plant(course: Course, name: str, rel_path: str, text: str) -> None:
    path = rel.release_dir(course.assignment(name), course) / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def add_cell(course: Course, name: str, notebook: str, source: str) -> None:
    path = rel.release_dir(course.assignment(name), course) / f"{notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell(source))
    nbformat.write(nb, path)


# Why a2's lines are secrets in a1's release: this course declares no order (no course.toml).
LATER = " (a2 comes after a1 in name order, the course having no course.toml)"


def test_a_later_assignments_hint_line_in_an_earlier_release_is_caught(course):
    released(course, "a1")
    hint = '        """-> dL/dZ = dLdA * dA/dZ; without dLdA, dA/dZ (hint: A(1 - A) reuses forward\'s A)."""'
    plant(course, "a1", "mylib/act.py", EXPECTED_A1.replace('        """-> dA/dZ, same shape as Z."""', hint))
    leaks = rel.scan_release(course.assignment("a1"), course)
    assert leaks == [f"release/a1/mylib/act.py: line 14: a2's line from mylib/act.py:27{LATER}: {hint.strip()}"]


def test_a_later_assignments_class_in_an_earlier_release_is_caught(course):
    released(course, "a1")
    plant(course, "a1", "mylib/act.py", EXPECTED_A1 + "\n\nclass Softmax:\n    pass\n")
    plant(course, "a1", "mylib/__init__.py", "from mylib.act import Sig\nfrom mylib import extra\n")
    add_cell(course, "a1", "Act", "%matplotlib inline\nimport mylib\nfrom mylib.act import Sig, Softmax\nmylib.extra")
    leaks = rel.scan_release(course.assignment("a1"), course)
    assert leaks == [
        f"release/a1/mylib/act.py: line 19: a2's line from mylib/act.py:35{LATER}: class Softmax:",
        "release/a1/Act.ipynb: cell 2: Softmax, which a2 adds",
        "release/a1/Act.ipynb: cell 2: mylib.extra, which a2 adds",
        "release/a1/mylib/__init__.py: line 2: mylib.extra, which a2 adds",
        "release/a1/mylib/act.py: line 19: Softmax, which a2 adds",
    ]


def test_a_later_assignments_file_in_an_earlier_release_is_caught(course):
    released(course, "a1")
    plant(course, "a1", "mylib/extra.py", "class Extra:\n    pass\n")
    assert rel.scan_release(course.assignment("a1"), course) == [
        f"release/a1/mylib/extra.py: line 1: a2's line from mylib/extra.py:1{LATER}: class Extra:",
        "release/a1/mylib/extra.py: a library file a1 does not declare (a2 adds it)"]


def test_a_later_assignments_solutions_hidden_tests_and_model_answers_are_caught(course):
    released(course, "a1")
    add_cell(course, "a1", "Act", f"def f():\n    return 6 * 7\n{A2_HIDDEN}")
    nb_path = rel.release_dir(course.assignment("a1"), course) / "Act.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(new_markdown_cell(f"Note: {MODEL_ANSWER}"))
    nbformat.write(nb, nb_path)
    leaks = rel.scan_release(course.assignment("a1"), course)
    assert leaks == [
        "release/a1/Act.ipynb: cell 2: solution line from mylib/extra.py:6: return 6 * 7",
        f"release/a1/Act.ipynb: cell 2: hidden test line from source/a2/Act2.ipynb: cell 1: {A2_HIDDEN}",
        f"release/a1/Act.ipynb: cell 3: model answer line from source/a2/Act2.ipynb: cell 2: {MODEL_ANSWER}",
    ]


def test_a_release_that_forgets_the_scopes_is_refused_and_removed(course, monkeypatch):
    def unscoped(assignment, course):
        """A release step that stubs and filters classes, but forgets the scoped regions."""
        for rel_path in assignment.student_files + assignment.library_files:
            text = (course.repo / rel_path).read_text()
            if rel_path in assignment.student_files:
                text = view.keep_top_level(stub_source(text, rel_path), assignment.names_in(rel_path))
            (rel.release_dir(assignment, course) / rel_path).write_text(text)

    monkeypatch.setattr(rel, "write_student_library", unscoped)
    with pytest.raises(rel.LeakError) as err:
        released(course, "a1")
    assert err.value.leaks == [
        f"release/a1/mylib/__init__.py: line 3: a2's line from mylib/__init__.py:3{LATER}: "
        "from mylib.act import Softmax",
        f"release/a1/mylib/__init__.py: line 4: a2's line from mylib/__init__.py:4{LATER}: "
        "from mylib.extra import Extra",
        f"release/a1/mylib/act.py: line 4: a2's line from mylib/act.py:4{LATER}: import math",
        f"release/a1/mylib/act.py: line 23: a2's line from mylib/act.py:26{LATER}: def backward(self, dLdA=None):",
        f"release/a1/mylib/act.py: line 24: a2's line from mylib/act.py:27{LATER}: "
        '"""-> dL/dZ = dLdA * dA/dZ; without dLdA, dA/dZ (hint: A(1 - A) reuses forward\'s A)."""',
        "release/a1/mylib/__init__.py: line 3: Softmax, which a2 adds",
        "release/a1/mylib/__init__.py: line 4: Extra, which a2 adds",
        "release/a1/mylib/__init__.py: line 4: mylib.extra, which a2 adds",
    ]
    assert not rel.release_dir(course.assignment("a1"), course).exists()


def test_an_earlier_assignments_parts_are_no_secret_of_a_later_release(course):
    """a1's signature and docstring are gone from a2's view, but a2's students may see them."""
    released(course, "a2")
    plant(course, "a2", "NOTES.md", '    def backward(self):\n        """-> dA/dZ, same shape as Z."""\n')
    assert rel.scan_release(course.assignment("a2"), course) == []
