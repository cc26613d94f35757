"""The source validator refuses every kind of broken source, naming file and cell."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.assignment import Assignment, Item
from coursekit.validate import Problem, ValidationError, validate, validate_or_raise

from conftest import HW1

CORE = '''import numpy as np


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
'''

ASSIGNMENT = Assignment(
    name="hwx",
    notebooks=("NbA", "NbB"),
    items=(Item("a1", 3, "NbA"), Item("a2", 2, "NbA"), Item("b1", 5, "NbB")),
    student_files=("mylib/core.py",),
    library_files=("mylib/__init__.py",),
    checks="source/hwx/checks.py",
    package="mylib",
)
CHECKS = '''import numpy as np
from coursekit.runtime.checks import Check, Checks

checks = Checks()
for _g in ("a1", "a2", "b1"):
    checks.add(Check(_g, _g, lambda rng, shape: {"x": np.ones(2)}, lambda mt, x: {"y": mt.double(x["x"])},
                     lambda x: {"y": 2 * x["x"]}))
'''
TOTAL = 10


def meta(grade_id: str, *, grade: bool = False, solution: bool = False, points: object = None) -> dict:
    m = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3, "solution": solution,
         "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def test_cell(grade_id: str, points: object, *, hidden: bool = True) -> nbformat.NotebookNode:
    source = f'check("{grade_id}")'
    if hidden:
        source += f'\n### BEGIN HIDDEN TESTS\ncheck("{grade_id}", seed=1)\n### END HIDDEN TESTS'
    return new_code_cell(source, metadata=meta(grade_id, grade=True, points=points))


test_cell.__test__ = False  # a builder, not a pytest test


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell("# A tester"), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def good_notebooks() -> dict[str, nbformat.NotebookNode]:
    solution = new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", metadata=meta("answer_a", solution=True))
    return {
        "NbA": notebook(solution, test_cell("a1", 3), test_cell("a2", 2)),
        "NbB": notebook(test_cell("b1", 5)),
    }


def write_repo(root: Path, notebooks: dict[str, nbformat.NotebookNode] | None = None, core: str = CORE) -> Path:
    (root / "mylib").mkdir(parents=True, exist_ok=True)
    (root / "mylib" / "__init__.py").write_text("from mylib.core import double\n")
    (root / "mylib" / "core.py").write_text(core)
    src = root / "source" / "hwx"
    src.mkdir(parents=True, exist_ok=True)
    (src / "checks.py").write_text(CHECKS)
    for name, nb in (good_notebooks() if notebooks is None else notebooks).items():
        nbformat.write(nb, src / f"{name}.ipynb")
    return root


def problems_of(root: Path, assignment: Assignment = ASSIGNMENT, total: int = TOTAL) -> list[Problem]:
    return validate(assignment, root, expected_total=total)


def only(problems: list[Problem], needle: str) -> Problem:
    hits = [p for p in problems if needle in p.message]
    assert len(hits) == 1, f"expected one problem with {needle!r}, got:\n" + "\n".join(map(str, problems))
    return hits[0]


def test_good_source_passes(tmp_path):
    assert problems_of(write_repo(tmp_path)) == []


# --- the reference library ------------------------------------------------------------


@pytest.mark.parametrize(
    "broken, needle, line",
    [
        (CORE.replace("    ### END SOLUTION\n", ""), "without a matching 'END SOLUTION'", 6),
        (CORE.replace("    ### BEGIN SOLUTION\n", ""), "without a matching 'BEGIN SOLUTION'", 7),
        (CORE.replace("    return 2 * x\n", "    ### BEGIN SOLUTION\n    return 2 * x\n"), "nested", 7),
    ],
    ids=["unpaired-begin", "unpaired-end", "nested-begin"],
)
def test_library_markers_must_pair(tmp_path, broken, needle, line):
    p = only(problems_of(write_repo(tmp_path, core=broken)), needle)
    assert p.file == "mylib/core.py"
    assert str(p).startswith(f"mylib/core.py: line {line}: ")


def test_marker_not_alone_on_its_line(tmp_path):
    broken = CORE.replace("    ### END SOLUTION", "    return x  ### END SOLUTION")
    only(problems_of(write_repo(tmp_path, core=broken)), "must stand alone")


def test_student_file_needs_a_solution_region(tmp_path):
    plain = 'def double(x):\n    return 2 * x\n'
    p = only(problems_of(write_repo(tmp_path, core=plain)), "no '### BEGIN SOLUTION' region")
    assert p.file == "mylib/core.py"


def test_library_file_must_not_hold_a_solution(tmp_path):
    root = write_repo(tmp_path)
    (root / "mylib" / "__init__.py").write_text("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n")
    assert only(problems_of(root), "released as-is").file == "mylib/__init__.py"


def test_unlisted_library_file_and_missing_listed_file(tmp_path):
    root = write_repo(tmp_path)
    (root / "mylib" / "extra.py").write_text("y = 2\n")
    (root / "mylib" / "__init__.py").unlink()
    problems = problems_of(root)
    assert only(problems, "would not be released").file == "mylib/extra.py"
    assert only(problems, "mylib/__init__.py is declared but missing").file == "source/hwx/assignment.toml"


def test_missing_fixture_and_checks_module(tmp_path):
    a = replace(ASSIGNMENT, fixture="data/x.npz", checks="source/hwx/nochecks.py")
    problems = problems_of(write_repo(tmp_path), a)
    assert {p.message for p in problems if "missing" in p.message} == {
        "fixture file data/x.npz is declared but missing", "checks file source/hwx/nochecks.py is declared but missing"}


def test_items_and_checks_must_agree(tmp_path):
    root = write_repo(tmp_path)
    (root / "source" / "hwx" / "checks.py").write_text(CHECKS.replace('"a2", "b1"', '"b1", "zz"'))
    messages = {p.message for p in problems_of(root)}
    assert "item 'a2' has no check in source/hwx/checks.py" in messages
    assert "check 'zz' is not an autograded item of assignment.toml" in messages


def test_a_declared_class_the_file_does_not_define(tmp_path):
    a = replace(ASSIGNMENT, student_names=(("mylib/core.py", ("double", "triple")),))
    problems = problems_of(write_repo(tmp_path), a)
    assert only(problems, "declared with triple, which it does not define")


# --- notebooks ------------------------------------------------------------------------


def test_missing_notebook(tmp_path):
    nbs = good_notebooks()
    del nbs["NbB"]
    p = only(problems_of(write_repo(tmp_path, nbs)), "notebook listed in the assignment is missing")
    assert p.file == "source/hwx/NbB.ipynb"


def test_invalid_json_notebook(tmp_path):
    root = write_repo(tmp_path)
    path = root / "source" / "hwx" / "NbB.ipynb"
    path.write_text(path.read_text()[:-20])
    p = only(problems_of(root), "not valid JSON")
    assert p.file == "source/hwx/NbB.ipynb"


def test_json_that_is_not_a_notebook(tmp_path):
    root = write_repo(tmp_path)
    (root / "source" / "hwx" / "NbB.ipynb").write_text('{"cells": 3}')
    assert only(problems_of(root), "not a valid notebook").file == "source/hwx/NbB.ipynb"


def test_unpaired_solution_marker_in_cell(tmp_path):
    nbs = good_notebooks()
    nbs["NbA"].cells[1].source = "### BEGIN SOLUTION\nx = 1"
    p = only(problems_of(write_repo(tmp_path, nbs)), "without a matching 'END SOLUTION'")
    assert (p.file, p.cell, p.grade_id) == ("source/hwx/NbA.ipynb", 1, "answer_a")
    assert str(p) == ("source/hwx/NbA.ipynb: cell 1 (answer_a): line 1: "
                      "'BEGIN SOLUTION' without a matching 'END SOLUTION'")


def test_unpaired_end_solution_in_cell(tmp_path):
    nbs = good_notebooks()
    nbs["NbA"].cells[1].source = "x = 1\n### END SOLUTION"
    p = only(problems_of(write_repo(tmp_path, nbs)), "without a matching 'BEGIN SOLUTION'")
    assert (p.file, p.cell) == ("source/hwx/NbA.ipynb", 1)


def test_unpaired_hidden_tests_marker(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells[1].source = 'check("b1")\n### BEGIN HIDDEN TESTS\ncheck("b1", seed=1)'
    p = only(problems_of(write_repo(tmp_path, nbs)), "without a matching 'END HIDDEN TESTS'")
    assert (p.file, p.cell, p.grade_id) == ("source/hwx/NbB.ipynb", 1, "b1")


def test_nested_hidden_tests(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells[1].source = "x\n### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\ny\n### END HIDDEN TESTS"
    only(problems_of(write_repo(tmp_path, nbs)), "nested")


def test_solution_region_outside_a_solution_cell(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells.append(new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    p = only(problems_of(write_repo(tmp_path, nbs)), "not marked as a solution cell")
    assert (p.file, p.cell) == ("source/hwx/NbB.ipynb", 2)


def test_duplicate_grade_id_across_notebooks(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells.append(new_code_cell("y = 2", metadata=meta("answer_a", solution=True)))
    p = only(problems_of(write_repo(tmp_path, nbs)), "duplicate grade_id")
    assert (p.file, p.cell, p.grade_id) == ("source/hwx/NbB.ipynb", 2, "answer_a")
    assert "source/hwx/NbA.ipynb cell 1" in p.message


def test_graded_cell_without_points(tmp_path):
    nbs = good_notebooks()
    del nbs["NbA"].cells[2].metadata["nbgrader"]["points"]
    p = only(problems_of(write_repo(tmp_path, nbs)), "has no points")
    assert str(p).startswith("source/hwx/NbA.ipynb: cell 2 (a1): ")


@pytest.mark.parametrize("points", [0, -1, "3", True])
def test_graded_cell_with_bad_points(tmp_path, points):
    nbs = good_notebooks()
    nbs["NbA"].cells[2].metadata["nbgrader"]["points"] = points
    p = only(problems_of(write_repo(tmp_path, nbs)), "points > 0")
    assert (p.cell, p.grade_id) == (2, "a1")


def test_graded_test_cell_without_hidden_block(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells[1] = test_cell("b1", 5, hidden=False)
    p = only(problems_of(write_repo(tmp_path, nbs)), "no '### BEGIN HIDDEN TESTS' block")
    assert str(p).startswith("source/hwx/NbB.ipynb: cell 1 (b1): ")


def test_graded_test_cell_without_visible_part(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells[1].source = "### BEGIN HIDDEN TESTS\ncheck('b1', seed=1)\n### END HIDDEN TESTS"
    only(problems_of(write_repo(tmp_path, nbs)), "no visible part")


def test_hidden_tests_in_ungraded_cell(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells.append(new_code_cell("### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS"))
    assert only(problems_of(write_repo(tmp_path, nbs)), "not graded").cell == 2


# --- notebooks against the assignment --------------------------------------------------


def test_missing_item(tmp_path):
    nbs = good_notebooks()
    del nbs["NbA"].cells[3]
    problems = problems_of(write_repo(tmp_path, nbs))
    p = only(problems, "'a2' (2 points) is missing")
    assert p.file == "source/hwx/NbA.ipynb"
    only(problems, "graded cells total 8 points")


def test_unexpected_item(tmp_path):
    nbs = good_notebooks()
    nbs["NbB"].cells.append(test_cell("b2", 1))
    p = only(problems_of(write_repo(tmp_path, nbs)), "unexpected grade_id")
    assert (p.file, p.cell, p.grade_id) == ("source/hwx/NbB.ipynb", 2, "b2")


def test_item_in_the_wrong_notebook(tmp_path):
    nbs = good_notebooks()
    moved = nbs["NbA"].cells.pop(3)
    nbs["NbB"].cells.append(moved)
    p = only(problems_of(write_repo(tmp_path, nbs)), "belongs in NbA.ipynb")
    assert (p.file, p.cell, p.grade_id) == ("source/hwx/NbB.ipynb", 2, "a2")


def test_points_differ_from_assignment(tmp_path):
    nbs = good_notebooks()
    nbs["NbA"].cells[2].metadata["nbgrader"]["points"] = 4
    problems = problems_of(write_repo(tmp_path, nbs))
    p = only(problems, "worth 4 points here but 3 in the assignment")
    assert (p.file, p.cell, p.grade_id) == ("source/hwx/NbA.ipynb", 2, "a1")


def test_wrong_total(tmp_path):
    problems = problems_of(write_repo(tmp_path), total=11)
    assert only(problems, "items total 10 points, total_points says 11").file == "source/hwx/assignment.toml"
    assert only(problems, "graded cells total 10 points").file == "source/hwx"


def test_hw1_is_held_to_35_points():
    assert HW1.total_points == 35
    short = replace(HW1, items=HW1.items[:-1])
    problems = validate(short, Path("/nonexistent"))
    expected = f"hw1 items total {35 - HW1.items[-1].points} points, total_points says 35"
    assert any(expected in p.message for p in problems)


# --- reporting ------------------------------------------------------------------------


def test_validate_or_raise_lists_every_problem_one_per_line(tmp_path):
    nbs = good_notebooks()
    del nbs["NbA"].cells[2].metadata["nbgrader"]["points"]
    nbs["NbB"].cells[1] = test_cell("b1", 5, hidden=False)
    root = write_repo(tmp_path, nbs, core=CORE.replace("    ### END SOLUTION\n", ""))
    with pytest.raises(ValidationError) as err:
        validate_or_raise(ASSIGNMENT, root, expected_total=TOTAL)
    lines = str(err.value).splitlines()
    assert len(lines) == len(err.value.problems) >= 3
    assert "source/hwx/NbA.ipynb: cell 2 (a1): graded cell has no points" in lines
    assert any(line.startswith("source/hwx/NbB.ipynb: cell 1 (b1): graded test cell has no") for line in lines)
    assert any(line.startswith("mylib/core.py: line 6: ") for line in lines)


def test_validate_or_raise_passes_a_good_source(tmp_path):
    validate_or_raise(ASSIGNMENT, write_repo(tmp_path), expected_total=TOTAL)
