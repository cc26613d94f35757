"""Refuse an assignment source that would release badly or grade wrongly.

Everything is checked before nbgrader runs, so that an instructor sees every
problem at once, each named by file, cell and grade id, instead of the first
RuntimeError nbgrader happens to raise (or, worse, no error and a leaked
solution or a silently wrong point total).
"""
from __future__ import annotations

import ast
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Iterable, Sequence

from coursekit.assignment import (COURSE_FILE, DECLARATION, Assignment, DeclarationError, assignment_names,
                                  course_file, course_order_listed, load_assignment)
from coursekit.library.stub import StubError, scope_text, stub_source
from coursekit.library.markers import (HIDDEN_TESTS, SOLUTION, Kind, MarkerError, Region, course_order, find_regions,
                                      scope_errors)

if TYPE_CHECKING:
    import nbformat  # its import takes seconds (jsonschema grammars): only where a notebook is read


@dataclass(frozen=True)
class Problem:
    """One reason to refuse the source. ``cell`` is the index in the notebook's ``cells`` list."""

    file: str
    message: str
    cell: int | None = None
    grade_id: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.cell is not None:
            where += f": cell {self.cell}" + (f" ({self.grade_id})" if self.grade_id else "")
        return f"{where}: {self.message}"


class ValidationError(Exception):
    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class _Cell:
    """A cell that carries a grade_id, as seen by the cross-notebook checks."""

    notebook: str
    path: str
    index: int
    grade_id: str
    graded: bool
    points: float | None  # None when missing or invalid (already reported)
    solution: bool = False
    cell_type: str = "code"


def validate(assignment: Assignment, repo: Path, *, expected_total: int | None = None) -> list[Problem]:
    """Every problem in the source of ``assignment`` under ``repo``; empty when it may be released.

    ``expected_total`` defaults to the total the spec states for the assignment, if any.
    """
    repo = Path(repo)
    problems = _check_course_file(assignment, repo)
    if problems:
        return problems  # without the course's order, nothing that depends on it can be checked
    problems = _check_library(assignment, repo)
    problems += _check_kit_files(assignment, repo)
    cells: list[_Cell] = []
    unreadable: set[str] = set()
    for name in assignment.notebooks:
        rel = notebook_path(assignment, name)
        nb, trouble = _read_notebook(repo / rel, rel)
        problems += trouble
        if nb is None:
            unreadable.add(name)
            continue
        found, trouble = _check_cells(nb, name, rel)
        cells += found
        problems += trouble
    problems += _check_duplicate_ids(cells)
    problems += _check_items(assignment, [c for c in cells if c.graded], unreadable)
    problems += _check_cells_of_items(assignment, cells, unreadable)
    problems += _check_checks(assignment, repo)
    if not any(p.file == assignment.checks for p in problems):
        problems += _check_fixture(assignment, repo)
    if expected_total is None:
        expected_total = assignment.declared_total
    if expected_total is not None:
        problems += _check_totals(assignment, cells, expected_total, complete=not unreadable)
    return problems


def validate_or_raise(assignment: Assignment, repo: Path, *, expected_total: int | None = None) -> None:
    problems = validate(assignment, repo, expected_total=expected_total)
    if problems:
        raise ValidationError(problems)


def notebook_path(assignment: Assignment, notebook: str) -> str:
    """Where nbgrader expects a source notebook, relative to the course root."""
    return f"source/{assignment.name}/{notebook}.ipynb"


def library_roots(assignment: Assignment) -> list[str]:
    """Top-level folders of the reference library (``mytorch``)."""
    files = assignment.student_files + assignment.library_files
    return sorted({Path(f).parts[0] for f in files if len(Path(f).parts) > 1})


# --- the course's order ----------------------------------------------------------------


def _check_course_file(assignment: Assignment, repo: Path) -> list[Problem]:
    """course.toml, where there is one, is readable and lists the assignment."""
    try:
        listed = course_order_listed(repo)
    except DeclarationError as exc:
        where, _, why = str(exc).removeprefix(str(course_file(repo))).partition(": ")
        return [Problem(COURSE_FILE + where, why)]
    if listed is not None and assignment.name not in listed:
        return [Problem(COURSE_FILE, f"[course] assignments does not list {assignment.name}: add it where it "
                                     "comes in teaching order (what a release may show depends on it)")]
    return []


# --- the reference library ------------------------------------------------------------


def declaration_file(assignment: Assignment) -> str:
    return f"source/{assignment.name}/{DECLARATION}"


def _declared(assignment: Assignment, needle: str) -> str:
    """The declaration, with the line that mentions ``needle``."""
    try:
        for n, line in enumerate(assignment.source.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return f"{declaration_file(assignment)}, line {n}"
    except OSError:
        pass
    return declaration_file(assignment)


def _check_library(assignment: Assignment, repo: Path) -> list[Problem]:
    problems: list[Problem] = []
    course = course_assignments(assignment, repo)
    order = course_order(repo, assignment.name)
    listed = set(assignment.student_files) | set(assignment.library_files)
    anyone = {rel for a in course.values() for rel in a.student_files + a.library_files}
    for rel in assignment.student_files + assignment.library_files:
        if not (repo / rel).is_file():
            problems.append(Problem(_declared(assignment, rel), f"{rel} is declared but missing"))
    for path in _library_py_files(assignment, repo):
        rel = path.relative_to(repo).as_posix()
        regions, trouble = _file_regions(path, rel, SOLUTION)
        problems += trouble
        if trouble:
            continue
        text = path.read_text(encoding="utf-8")
        scoping = [Problem(rel, f"line {e.line}: {e.message}") for e in scope_errors(text.splitlines(), order)]
        problems += scoping
        view = text if scoping or rel not in listed else scope_text(text, assignment.name, order, rel)
        if view is not text:
            regions = find_regions(view.splitlines(), SOLUTION)[0]
        if rel in assignment.student_files and not regions:
            problems.append(Problem(rel, "student file has no '### BEGIN SOLUTION' region"
                                         + (f" in {assignment.name}'s view" if view is not text else "")
                                         + "; it would be released complete"))
        elif rel in assignment.library_files and regions:
            problems.append(Problem(rel, "library file has a solution region, but library files are released as-is"))
        elif rel not in anyone:
            problems.append(Problem(rel, "neither a student file nor a library file of any assignment of the course, "
                                         "so it would not be released"))
        if scoping or rel not in listed:
            continue
        problems += _check_view(assignment, rel, view)
        if rel in assignment.student_files:
            problems += _check_names(assignment, rel, text, view, course)
    return problems


def course_assignments(assignment: Assignment, repo: Path) -> dict[str, Assignment]:
    """Every assignment the course under ``repo`` declares (those that load), with ``assignment`` as given."""
    found: dict[str, Assignment] = {}
    for name in assignment_names(repo):
        if name != assignment.name:
            try:
                found[name] = load_assignment(repo, name)
            except DeclarationError:
                continue  # its own validate says what is wrong with it
    found[assignment.name] = assignment
    return found


def _check_view(assignment: Assignment, rel: str, view: str) -> list[Problem]:
    """The file as this assignment releases it must stub (student files) and compile."""
    try:
        if rel in assignment.student_files:
            stub_source(view, rel)
        else:
            compile(view, rel, "exec")
    except StubError as err:
        return [Problem(rel, f"as {assignment.name} releases it: {line}") for line in str(err).splitlines()]
    except SyntaxError as err:
        return [Problem(rel, f"as {assignment.name} releases it, line {err.lineno}: does not compile: {err.msg}")]
    return []


def _check_names(assignment: Assignment, rel: str, text: str, view: str,
                 course: dict[str, Assignment]) -> list[Problem]:
    """Declared names the view defines; top-level classes and functions some assignment declares."""
    problems: list[Problem] = []
    defined = _names_in_text(view)
    for name in assignment.names_in(rel) or ():
        if defined is not None and name not in defined:
            where = "" if view is text else f" in {assignment.name}'s view"
            problems.append(Problem(_declared(assignment, rel),
                                    f"{rel} is declared with {name}, which it does not define{where}"))
    declared: set[str] = set()
    for other in course.values():
        if rel in other.student_files:
            names = other.names_in(rel)
            if names is None:
                return problems  # an assignment that takes the whole file releases every name in it
            declared |= set(names)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return problems
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in declared:
            what = "class" if isinstance(node, ast.ClassDef) else "function"
            problems.append(Problem(rel, f"line {node.lineno}: {what} {node.name} is declared by no assignment of the "
                                         "course ([library.student]), so it would never be released"))
    return problems


def _library_py_files(assignment: Assignment, repo: Path) -> list[Path]:
    files: list[Path] = []
    for root in library_roots(assignment):
        files += [p for p in sorted((repo / root).rglob("*.py")) if "__pycache__" not in p.parts]
    return files


def _names_in_text(text: str) -> set[str] | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None  # reported as the file's own problem
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _check_kit_files(assignment: Assignment, repo: Path) -> list[Problem]:
    """The fixture and the checks module exist; the module, shipped as-is, holds no solution."""
    problems: list[Problem] = []
    for key, rel in (("fixture", assignment.fixture), ("checks", assignment.checks)):
        if rel and not (repo / rel).is_file():
            problems.append(Problem(_declared(assignment, rel), f"{key} file {rel} is declared but missing"))
    if not assignment.checks and assignment.auto_items:
        problems.append(Problem(declaration_file(assignment), "autograded items need a checks module (checks = ...)"))
    if assignment.checks and (repo / assignment.checks).is_file():
        rel = assignment.checks
        regions, trouble = _file_regions(repo / rel, rel, SOLUTION)
        problems += trouble
        if regions:
            problems.append(Problem(rel, "the checks module has a solution region, "
                                         "but it is shipped to students as-is"))
    return problems


def _check_checks(assignment: Assignment, repo: Path) -> list[Problem]:
    """Every autograded item has its check in the module, and every check an item."""
    if not assignment.checks or not (repo / assignment.checks).is_file():
        return []
    from coursekit.runtime.checks import load_checks, runs_mismatch

    try:
        checks = load_checks(repo / assignment.checks)
    except Exception as exc:  # noqa: BLE001 - any failure of the instructor's module is reported here
        return [Problem(assignment.checks, f"cannot be loaded: {type(exc).__name__}: {exc}")]
    problems = [Problem(_declared(assignment, f'"{item.grade_id}"'), f"item {item.grade_id!r} has no check in "
                        f"{assignment.checks}") for item in assignment.auto_items if item.grade_id not in checks]
    problems += [Problem(_declared(assignment, f'"{item.grade_id}"'), why) for item in assignment.auto_items
                 if item.grade_id in checks and (why := runs_mismatch(item.grade_id, checks[item.grade_id], item.cell))]
    auto = {item.grade_id for item in assignment.auto_items}
    problems += [Problem(assignment.checks, f"check {grade_id!r} is not an autograded item of {DECLARATION}")
                 for grade_id in checks if grade_id not in auto]
    return problems


def _check_fixture(assignment: Assignment, repo: Path) -> list[Problem]:
    """The stored fixture is what the checks give now (rebuilt in memory): a stale one would show
    students visible cases the grader no longer uses, or fail in their notebooks."""
    if not assignment.fixture or not assignment.checks or not (repo / assignment.fixture).is_file():
        return []  # a missing one is reported with the declaration
    from coursekit.fixtures import build, differences, load

    try:
        found = differences(load(repo / assignment.fixture), build(assignment, repo))
    except Exception as exc:  # noqa: BLE001 - the instructor's checks or a damaged file: reported, not raised
        return [Problem(assignment.fixture, f"cannot be compared with a fresh build of {assignment.checks} "
                                            f"({type(exc).__name__}: {exc}); run `course fixtures {assignment.name}`")]
    if not found:
        return []
    keys = [line.split(":", 1)[0] for line in found]  # inputs__<grade id>__<array>, or a handout array
    items = sorted({key.split("__")[1] for key in keys if key.count("__") >= 2})
    handout = any(key.count("__") < 2 for key in keys)
    what = ", ".join(repr(i) for i in items) + (" and the handout arrays" if handout and items else
                                                 "the handout arrays" if handout else "")
    return [Problem(assignment.fixture, f"out of date: the checks in {assignment.checks} give other visible "
                                        f"cases for {what} (first: {found[0]}); "
                                        f"run `course fixtures {assignment.name}` to rebuild it")]


def _file_regions(path: Path, rel: str, kind: Kind) -> tuple[list[Region], list[Problem]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        return [], [Problem(rel, f"cannot be read: {err}")]
    regions, errors = find_regions(lines, kind)
    return regions, [Problem(rel, f"line {e.line}: {e.message}") for e in errors]


# --- notebooks ------------------------------------------------------------------------


def _read_notebook(path: Path, rel: str) -> tuple[nbformat.NotebookNode | None, list[Problem]]:
    import nbformat

    if not path.is_file():
        return None, [Problem(rel, "notebook listed in the assignment is missing")]
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except (OSError, UnicodeDecodeError) as err:
        return None, [Problem(rel, f"cannot be read: {err}")]
    except json.JSONDecodeError as err:
        return None, [Problem(rel, f"not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}")]
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # nbformat raises several unrelated types for a malformed notebook
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, [Problem(rel, f"not a valid notebook: {first_line}")]
    return nb, []


def _check_cells(nb: nbformat.NotebookNode, notebook: str, rel: str) -> tuple[list[_Cell], list[Problem]]:
    cells: list[_Cell] = []
    problems: list[Problem] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        grade_id = meta.get("grade_id")
        where = dict(cell=index, grade_id=grade_id)
        problems += [Problem(rel, m, **where) for m in _cell_problems(cell, meta)]
        if grade_id:
            points = _valid_points(meta.get("points")) if meta.get("grade") else None
            cells.append(_Cell(notebook, rel, index, grade_id, bool(meta.get("grade")), points,
                               bool(meta.get("solution")), cell.cell_type))
    return cells, problems


def _cell_problems(cell: nbformat.NotebookNode, meta: dict) -> list[str]:
    lines = cell.source.split("\n")
    solutions, errors = find_regions(lines, SOLUTION)
    hidden, hidden_errors = find_regions(lines, HIDDEN_TESTS)
    messages = [f"line {e.line}: {e.message}" for e in errors + hidden_errors]
    if solutions and not meta.get("solution"):
        messages.append("solution region in a cell not marked as a solution cell (nbgrader refuses it)")
    if hidden and not meta.get("grade"):
        messages.append("hidden tests in a cell that is not graded (nbgrader refuses it)")
    if meta.get("grade"):
        messages += _graded_cell_problems(cell, meta, lines, hidden, hidden_errors)
    return messages


def _graded_cell_problems(
    cell: nbformat.NotebookNode, meta: dict, lines: list[str], hidden: list[Region], hidden_errors: list[MarkerError]
) -> list[str]:
    messages: list[str] = []
    if not meta.get("grade_id"):
        messages.append("graded cell has no grade_id")
    points = meta.get("points")
    if points is None:
        messages.append("graded cell has no points")
    elif _valid_points(points) is None:
        messages.append(f"graded cell must have points > 0 (has {points!r})")
    is_test_cell = cell.cell_type == "code" and not meta.get("solution")
    if is_test_cell and not hidden and not hidden_errors:
        messages.append("graded test cell has no '### BEGIN HIDDEN TESTS' block "
                        "(each graded cell needs a visible and a hidden part)")
    if is_test_cell and hidden and not _visible_lines(lines, hidden):
        messages.append("graded test cell has no visible part outside its hidden tests")
    return messages


def _valid_points(points: object) -> float | None:
    # bool is an int in Python, but `points: true` is a mistake, not one point.
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
        return None
    return float(points)


def _visible_lines(lines: list[str], hidden: list[Region]) -> list[str]:
    covered = {i for r in hidden for i in range(r.begin, r.end + 1)}
    return [line for i, line in enumerate(lines) if i not in covered and line.strip()]


# --- across notebooks -----------------------------------------------------------------


def _check_duplicate_ids(cells: Iterable[_Cell]) -> list[Problem]:
    first: dict[str, _Cell] = {}
    problems: list[Problem] = []
    for c in cells:
        if c.grade_id in first:
            f = first[c.grade_id]
            problems.append(Problem(c.path, f"duplicate grade_id, also used by {f.path} cell {f.index}",
                                    c.index, c.grade_id))
        else:
            first[c.grade_id] = c
    return problems


def _check_items(assignment: Assignment, graded: list[_Cell], unreadable: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    by_id: dict[str, list[_Cell]] = defaultdict(list)
    for c in graded:
        by_id[c.grade_id].append(c)
    expected = {item.grade_id: item for item in assignment.items}
    for item in assignment.items:
        where = notebook_path(assignment, item.notebook)
        if item.notebook not in assignment.notebooks:
            problems.append(Problem(_declared(assignment, f'"{item.grade_id}"'),
                                    f"item {item.grade_id!r} is in notebook {item.notebook!r}, "
                                    "which the assignment does not list"))
        found = by_id.get(item.grade_id, [])
        if not found and item.notebook not in unreadable:
            problems.append(Problem(where, f"graded item {item.grade_id!r} ({item.points} points) is missing: "
                                           "no graded cell has this grade_id"))
        for c in found:
            if c.notebook != item.notebook:
                problems.append(Problem(c.path, f"graded item belongs in {item.notebook}.ipynb according to the "
                                                "assignment", c.index, c.grade_id))
            if c.points is not None and c.points != item.points:
                problems.append(Problem(c.path, f"worth {c.points:g} points here but {item.points} in the assignment",
                                        c.index, c.grade_id))
    for c in graded:
        if c.grade_id not in expected:
            problems.append(Problem(c.path, "graded cell is not an item of the assignment (unexpected grade_id)",
                                    c.index, c.grade_id))
    return problems


def _check_totals(assignment: Assignment, cells: list[_Cell], expected: int, *, complete: bool) -> list[Problem]:
    problems: list[Problem] = []
    if assignment.total_points != expected:
        problems.append(Problem(_declared(assignment, "total_points"),
                                f"{assignment.name} items total {assignment.total_points} points, "
                                f"total_points says {expected}"))
    in_notebooks = sum(c.points or 0 for c in cells if c.graded)
    # With a notebook missing the sum is meaningless, and that notebook is already reported.
    if complete and in_notebooks != expected:
        problems.append(Problem(f"source/{assignment.name}",
                                f"graded cells total {in_notebooks:g} points, total_points says {expected}"))
    return problems


def _check_cells_of_items(assignment: Assignment, cells: list[_Cell], unreadable: set[str]) -> list[Problem]:
    """Written items are answer cells (graded and solution); code-cell items name a solution cell."""
    problems: list[Problem] = []
    by_id = {c.grade_id: c for c in cells}
    for item in assignment.items:
        where = _declared(assignment, f'"{item.grade_id}"')
        graded = by_id.get(item.grade_id)
        if item.manual and graded is not None and graded.graded and not graded.solution:
            problems.append(Problem(graded.path, "a written (manually graded) item must be an answer cell: "
                                                 "graded and a solution cell", graded.index, item.grade_id))
        if not item.manual and graded is not None and graded.solution:
            problems.append(Problem(graded.path, "an autograded item's graded cell must be a test cell, "
                                                 "not a solution cell", graded.index, item.grade_id))
        if item.cell and item.notebook not in unreadable:
            code = by_id.get(item.cell)
            if code is None or code.notebook != item.notebook:
                problems.append(Problem(where, f"item {item.grade_id!r} runs cell {item.cell!r}, which "
                                               f"{item.notebook}.ipynb does not have"))
            elif not code.solution or code.graded or code.cell_type != "code":
                problems.append(Problem(code.path, f"cell {item.cell!r} holds the code of {item.grade_id!r}: "
                                                   "it must be an ungraded code solution cell", code.index, item.cell))
    return problems
