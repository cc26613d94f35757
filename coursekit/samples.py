"""Sample submissions for the demo and the tests: three students a course always has.

* ``reference`` hands in the instructor's library, as the assignment's release
  scopes it, the model solutions of the notebook solution cells whose code
  items run (every check passes) and the model answers of the written items
  (awaiting manual grading);
* ``blank`` hands in the release unchanged (every check fails);
* ``buggy`` makes a few typical mistakes, each costing a known set of items:
  the ``BUGS`` of the assignment's ``samples`` module (course content), as
  ``(file, correct text, buggy text, grade ids it costs)``.  The file is a
  library file, or a notebook (``Tester.ipynb``): then the text is replaced in
  the notebook's cells (its solution cells, in practice).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import nbformat

from coursekit.assignment import Assignment
from coursekit.course import Course
from coursekit.library.markers import SOLUTION, find_regions
from coursekit.library.view import reference_file

Bug = tuple[str, str, str, tuple[str, ...]]  # (file, correct text, buggy text, grade ids it costs)


def typical_bugs(assignment: Assignment, course: Course) -> tuple[Bug, ...]:
    """The assignment's declared typical mistakes (none if it declares no samples module)."""
    if not assignment.samples:
        return ()
    spec = importlib.util.spec_from_file_location(f"samples_{assignment.name}", course.source_file(assignment.samples))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.BUGS)


def copy_release(release: Path, dest: Path) -> Path:
    """dest becomes a copy of the released folder, as a student downloads it."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(release, dest, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return dest


def model_solution(source: str) -> str:
    """A solution cell's source without its solution marker lines: the model answer."""
    lines = source.split("\n")
    regions, errors = find_regions(lines, SOLUTION)
    if errors:
        raise ValueError("; ".join(f"line {e.line}: {e.message}" for e in errors))
    markers = {i for region in regions for i in (region.begin, region.end)}
    return "\n".join(line for i, line in enumerate(lines) if i not in markers)


def _grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def solution_cells(assignment: Assignment, repo: Path) -> dict[str, dict[str, str]]:
    """notebook -> {grade id of a solution cell: its model solution}, from the assignment's source
    notebooks: the cells whose code items run, and the answer cells of written items."""
    found: dict[str, dict[str, str]] = {}
    for item in assignment.items:
        cell = item.grade_id if item.manual else item.cell
        if not cell:
            continue
        path = Path(repo) / "source" / assignment.name / f"{item.notebook}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if _grade_id(c) == cell]
        if not cells:
            raise ValueError(f"{path}: no cell {cell!r} (the {'answer' if item.manual else 'code'} of item "
                             f"{item.grade_id!r})")
        found.setdefault(item.notebook, {})[cell] = model_solution(cells[0].source)
    return found


def hand_in_reference(assignment: Assignment, repo: Path, dest: Path) -> None:
    """Replace the stubs in dest with the instructor's files, and the released solution cells
    (code that items run, written answers) with their model solutions."""
    repo, dest = Path(repo), Path(dest)
    for rel in assignment.student_files:
        (dest / rel).write_text(reference_file(assignment, repo, rel), encoding="utf-8")
    for notebook, solutions in solution_cells(assignment, repo).items():
        path = dest / f"{notebook}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if _grade_id(cell) in solutions:
                cell.source = solutions.pop(_grade_id(cell))
        if solutions:
            raise ValueError(f"{path}: no cell {', '.join(map(repr, solutions))} to hand the model solution in")
        nbformat.write(nb, path)


def break_file(dest: Path, rel: str, correct: str, buggy: str) -> None:
    """Plant a bug: ``correct`` becomes ``buggy`` in the file ``rel`` of dest (in the cells of a notebook)."""
    path = dest / rel
    if rel.endswith(".ipynb"):
        nb = nbformat.read(path, as_version=4)
        cells = [cell for cell in nb.cells if correct in cell.source]
        if not cells:
            raise ValueError(f"{path}: cannot plant a bug, {correct!r} is in no cell")
        for cell in cells:
            cell.source = cell.source.replace(correct, buggy)
        nbformat.write(nb, path)
        return
    text = path.read_text()
    if correct not in text:
        raise ValueError(f"{path}: cannot plant a bug, {correct!r} not found")
    path.write_text(text.replace(correct, buggy))


def make_samples(assignment: Assignment, course: Course, bugs: tuple[Bug, ...] | None = None) -> dict[str, Path]:
    """Write submitted/<student>/<assignment> for the three sample students."""
    bugs = typical_bugs(assignment, course) if bugs is None else bugs
    repo, submitted = course.repo, course.stage("submitted")
    release = course.folder("release", assignment.name)
    if not release.is_dir():
        raise FileNotFoundError(f"{release} does not exist; run `course release {assignment.name}` first")
    folders = {s: copy_release(release, submitted / s / assignment.name) for s in ("reference", "blank", "buggy")}
    hand_in_reference(assignment, repo, folders["reference"])
    hand_in_reference(assignment, repo, folders["buggy"])
    for rel, correct, buggy, _ in bugs:
        break_file(folders["buggy"], rel, correct, buggy)
    return folders
