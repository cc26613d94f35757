"""The sample students' hand-ins (coursekit/samples.py): the reference hands in each assignment's
view of the library and the model solutions of the notebook cells items run; a typical mistake
is planted in a library file or in a notebook's cell.

A tiny course of two assignments sharing one library file, the second with an item whose code
is a notebook solution cell; no nbgrader needed (the "release" is a copy with the cell stubbed).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.assignment import load_assignment
from coursekit.samples import break_file, hand_in_reference, model_solution, solution_cells

from conftest import HW1, REPO

CORE = '''import numpy as np


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return x + x
    ### END SOLUTION
### BEGIN FROM a2


def triple(x):
    """Three times x."""
    ### BEGIN SOLUTION
    return 3 * x
    ### END SOLUTION
### END FROM
'''
DECLARATION = '''
title = "{name}"
notebooks = ["Nb"]
checks = "source/{name}/checks.py"

[library]
package = "mylib"
[library.student]
"mylib/core.py" = {names}
[library.given]
files = ["mylib/__init__.py"]

[[items]]
grade_id = "double"
points = 1
notebook = "Nb"
files = ["mylib/core.py"]
{extra}'''
CELL_ITEM = '''
[[items]]
grade_id = "slope"
points = 2
notebook = "Nb"
cell = "slope_code"
'''
SOLUTION = '''import numpy as np


def slope(x, h=1e-6):
    """The derivative of x ** 3."""
    ### BEGIN SOLUTION
    step = h
    return 3 * x ** 2
    ### END SOLUTION'''
STUB = '''import numpy as np


def slope(x, h=1e-6):
    """The derivative of x ** 3."""
    # YOUR CODE HERE
    raise NotImplementedError()'''


def meta(grade_id: str, **flags) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "solution": False, "grade": False,
                         "locked": True, **flags}}


def notebook(solution: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_markdown_cell("# Slopes"),
        new_code_cell(solution, metadata=meta("slope_code", solution=True, locked=False)),
        new_code_cell('check("slope")', metadata=meta("slope", grade=True, points=2)),
    ])


@pytest.fixture
def course(tmp_path) -> Path:
    root = tmp_path / "course"
    (root / "mylib").mkdir(parents=True)
    (root / "mylib" / "__init__.py").write_text("from mylib.core import *\n")
    (root / "mylib" / "core.py").write_text(CORE)
    for name, names, extra in (("a1", '["double"]', ""), ("a2", '["double", "triple"]', CELL_ITEM)):
        (root / "source" / name).mkdir(parents=True)
        (root / "source" / name / "assignment.toml").write_text(DECLARATION.format(name=name, names=names,
                                                                                      extra=extra))
    nbformat.write(notebook(SOLUTION), root / "source" / "a2" / "Nb.ipynb")
    nbformat.write(notebook(SOLUTION), root / "source" / "a1" / "Nb.ipynb")
    return root


def released(course: Path, name: str, dest: Path) -> Path:
    """What a student downloads, as far as these tests need: the stub file and the stubbed cell."""
    (dest / "mylib").mkdir(parents=True)
    (dest / "mylib" / "core.py").write_text("def double(x):\n    raise NotImplementedError()\n")
    nbformat.write(notebook(STUB), dest / "Nb.ipynb")
    return dest


def cell_source(folder: Path, grade_id: str) -> str:
    nb = nbformat.read(folder / "Nb.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_model_solution_drops_only_the_marker_lines():
    assert model_solution(SOLUTION) == SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace(
        "\n    ### END SOLUTION", "")
    assert model_solution("x = 1") == "x = 1"
    with pytest.raises(ValueError, match="without a matching"):
        model_solution("### BEGIN SOLUTION\nx = 1")


def test_the_reference_hands_in_the_model_solutions_of_the_cells_items_run(course, tmp_path):
    a2 = load_assignment(course, "a2")
    assert solution_cells(a2, course) == {"Nb": {"slope_code": model_solution(SOLUTION)}}
    dest = released(course, "a2", tmp_path / "a2")
    hand_in_reference(a2, course, dest)
    assert cell_source(dest, "slope_code") == model_solution(SOLUTION)
    assert cell_source(dest, "slope") == 'check("slope")'  # the test cell is left alone
    namespace: dict = {}
    exec(cell_source(dest, "slope_code"), namespace)
    assert namespace["slope"](2.0) == 12.0
    # The library file as a2 has it: both functions, no scope markers.
    core = (dest / "mylib" / "core.py").read_text()
    assert "def triple" in core and "FROM" not in core


def test_an_assignment_without_cell_items_keeps_its_notebooks_and_gets_its_own_view(course, tmp_path):
    a1 = load_assignment(course, "a1")
    dest = released(course, "a1", tmp_path / "a1")
    before = (dest / "Nb.ipynb").read_bytes()
    hand_in_reference(a1, course, dest)
    assert (dest / "Nb.ipynb").read_bytes() == before
    core = (dest / "mylib" / "core.py").read_text()
    assert "def double" in core and "triple" not in core and "FROM" not in core


def test_a_missing_cell_is_named(course, tmp_path):
    a2 = load_assignment(course, "a2")
    dest = released(course, "a2", tmp_path / "a2")
    nb = nbformat.read(dest / "Nb.ipynb", as_version=4)
    del nb.cells[1]
    nbformat.write(nb, dest / "Nb.ipynb")
    with pytest.raises(ValueError, match="slope_code"):
        hand_in_reference(a2, course, dest)


def test_a_bug_is_planted_in_a_notebook_cell(course, tmp_path):
    a2 = load_assignment(course, "a2")
    dest = released(course, "a2", tmp_path / "a2")
    hand_in_reference(a2, course, dest)
    break_file(dest, "Nb.ipynb", "return 3 * x ** 2", "return 3 * x")
    assert "return 3 * x\n" in cell_source(dest, "slope_code") + "\n"
    assert "x ** 2" not in cell_source(dest, "slope_code")
    nbformat.validate(nbformat.read(dest / "Nb.ipynb", as_version=4))
    with pytest.raises(ValueError, match="in no cell"):
        break_file(dest, "Nb.ipynb", "return 3 * x ** 2", "return 0")
    break_file(dest, "mylib/core.py", "return x + x", "return x")
    assert "return x\n" in (dest / "mylib" / "core.py").read_text()


def test_hw1s_reference_hand_in_is_hw1s_view_of_the_library(tmp_path):
    dest = tmp_path / "hw1"
    for rel in HW1.student_files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    hand_in_reference(HW1, REPO, dest)
    for rel in HW1.student_files:
        text = (dest / rel).read_text()
        assert "BEGIN FROM" not in text and "BEGIN UNTIL" not in text, rel
        compile(text, rel, "exec")
    assert "scipy" not in (dest / "mytorch/nn/activation.py").read_text()
    shutil.rmtree(dest)
