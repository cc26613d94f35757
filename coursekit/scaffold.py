"""`course new <assignment>` and `course add <assignment> <kind>`: an assignment, and each item
added to it, that validates and releases as it stands.

`course new` writes, in the course directory (which may be empty):

* ``source/<a>/assignment.toml``: the declaration, with one example of each kind of item: a
  library item (``double``), an item whose code is a notebook cell (``triple``) and a written,
  hand-graded answer (``explain``);
* ``source/<a>/ExampleTester.ipynb``: the tester notebook, each problem's statement with its
  equation and its cells with the right nbgrader metadata (graded test cells with a visible
  ``check(...)`` and a hidden block, the code cell, the answer cell);
* ``source/<a>/checks.py``: the checks of the two autograded items, and the fixture hooks;
* ``<package>/<module>/example.py``: the student file, a function with its solution region,
  and ``<package>/<module>/__init__.py``;
* the fixture, built by :func:`coursekit.fixtures.regenerate`;
* ``course.toml``, the course's teaching order, with the new assignment at the end (or where
  ``after``/``before`` say); where the course has none yet, also ``<package>/__init__.py`` and an
  ``nbgrader_config.py`` that derives its settings from the declarations.

`course add` appends one more item of a kind to an assignment: its table in the declaration,
its cells at the end of a notebook, its check (and, for a library item, its student file), and
the rebuilt fixture; nobody edits notebook JSON or cell metadata by hand.

Nothing that exists is overwritten (an existing assignment, or any file `new` would write,
is refused before anything is written; `add` edits only its assignment's declaration, checks
and notebook, `new` only course.toml's list); and if a step fails, every file is as it was.
"""
from __future__ import annotations

import keyword
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.assignment import (COURSE_FILE, DECLARATION, GRADE_ID, NAME, Assignment, DeclarationError,
                                  assignment_names, course_order_listed, course_toml, load_assignment, with_order)
from coursekit.runtime.checks import fixture_of

NOTEBOOK = "ExampleTester"
POINTS = 2
KINDS = ("library", "cell", "written")
# The examples `course new` writes, one of each kind.
EXAMPLES = (("library", "double"), ("cell", "triple"), ("written", "explain"))


class ScaffoldError(ValueError):
    """A name, place, item or course directory `course new`/`course add` cannot use; one line."""


def module_name(assignment: str) -> str:
    """The Python name of the assignment's folder in the library package."""
    name = assignment.replace("-", "_")
    return f"{name}_" if keyword.iskeyword(name) else name


@dataclass(frozen=True)
class NewItem:
    """One item as the scaffold writes it: enough to write its table, cells, check and file."""

    kind: str
    grade_id: str
    points: int
    notebook: str
    number: int  # its place among the notebook's problems, 1-based: headings and hidden seeds
    student: str = ""  # a library item's student file
    package: str = "mytorch"

    @property
    def factor(self) -> int:
        # Each example multiplies by a number of its own, so no two items share a solution line.
        return self.number + 1


# --- course new ------------------------------------------------------------------------------


def scaffold(root: Path, name: str, package: str = "mytorch", *, after: str | None = None,
             before: str | None = None) -> list[Path]:
    """Write a new assignment ``name`` into the course directory ``root``; the files written (and
    course.toml, changed).

    Raises ScaffoldError for a bad name, place or course directory and FileExistsError if the
    assignment (or any file it would write) exists."""
    root = Path(root)
    if not NAME.match(name or ""):
        raise ScaffoldError(f"{name!r} is not an assignment name: a letter, then letters, digits, - and _ "
                            "(at most 40)")
    if not package.isidentifier() or keyword.iskeyword(package):
        raise ScaffoldError(f"{package!r} is not a Python package name (--package)")
    if not root.is_dir():
        raise ScaffoldError(f"{root}: no such course directory (create it first, or pass --course DIR)")
    folder = root / "source" / name
    if folder.exists():
        existing = folder / DECLARATION if (folder / DECLARATION).exists() else folder
        raise FileExistsError(f"{existing} exists: assignment {name!r} is already in this course; "
                              "choose another name")
    order_text = course_file_text(root, name, after=after, before=before)
    module = module_name(name)
    fixture = fixture_of(name)
    init = f"{package}/__init__.py"
    student = f"{package}/{module}/example.py"
    given = [f"{package}/{module}/__init__.py"]
    if not (root / init).exists() or not _declared_by_any(root, init):
        given.insert(0, init)  # ours (or no one's): released as it is
    items = [NewItem(kind, grade_id, POINTS, NOTEBOOK, n, student if kind == "library" else "", package)
             for n, (kind, grade_id) in enumerate(EXAMPLES, 1)]
    notebook = tester_notebook(name, fixture)
    for item in items:
        notebook.cells += item_cells(item)
    files: dict[str, str] = {
        f"source/{name}/{DECLARATION}": declaration(name, package, given, fixture, items),
        f"source/{name}/checks.py": checks_module(name, package) + "".join(check_code(i) for i in items),
        f"source/{name}/{NOTEBOOK}.ipynb": nbformat.writes(notebook) + "\n",
        given[-1]: f'"""{name}: the assignment\'s part of the library."""\n',
        student: student_file(name) + "".join(library_function(i) for i in items if i.kind == "library"),
    }
    optional = {init: f'"""{package}: the course\'s library, written by the students."""\n',
                "nbgrader_config.py": nbgrader_config(package)}
    files |= {rel: text for rel, text in optional.items() if not (root / rel).exists()}
    clash = [rel for rel in [*files, fixture] if (root / rel).exists()]
    if clash:
        raise FileExistsError(f"{root / clash[0]} exists; `course new {name}` writes only new files "
                              "(choose another name)")
    files[COURSE_FILE] = order_text
    with _Undo(root) as undo:
        for rel, text in files.items():
            undo.write(rel, text)
        undo.regenerate(name, fixture)
    order = {rel: k for k, rel in enumerate(
        [f"source/{name}/{DECLARATION}", f"source/{name}/{NOTEBOOK}.ipynb", f"source/{name}/checks.py",
         fixture, init, given[-1], student, "nbgrader_config.py", COURSE_FILE])}
    return sorted(undo.touched, key=lambda p: order.get(p.relative_to(root).as_posix(), len(order)))


def course_file_text(root: Path, name: str, *, after: str | None = None, before: str | None = None) -> str:
    """course.toml with ``name`` added: at the end, or right after ``after`` / before ``before``.

    A course without the file gets one listing the assignments it has in today's order (their
    names'), then the new one.  ScaffoldError for a place that names no assignment of the course."""
    try:
        listed = course_order_listed(root)
    except DeclarationError as exc:
        raise ScaffoldError(str(exc)) from None
    names = list(listed) if listed is not None else assignment_names(root)
    if after and before:
        raise ScaffoldError("--after and --before: give one place, not two")
    place = after or before
    at = len(names)
    if place is not None:
        if place not in names:
            known = ", ".join(names) if names else "none yet"
            raise ScaffoldError(f"--{'after' if after else 'before'} {place}: not an assignment of the course's "
                                f"order (it has: {known})")
        at = names.index(place) + (1 if after else 0)
    names.insert(at, name)
    if listed is None:
        return course_toml(names)
    try:
        return with_order((root / COURSE_FILE).read_text(encoding="utf-8"), names)
    except DeclarationError as exc:
        raise ScaffoldError(str(exc)) from None


def _declared_by_any(root: Path, rel: str) -> bool:
    for other in assignment_names(root):
        try:
            a = load_assignment(root, other)
        except ValueError:
            continue
        if rel in a.student_files + a.library_files:
            return True
    return False


class _Undo:
    """Files written or changed, put back as they were if anything in the ``with`` block fails."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.before: dict[Path, bytes | None] = {}  # None: the file did not exist
        self.made: list[Path] = []  # folders created
        self.touched: list[Path] = []

    def __enter__(self) -> _Undo:
        return self

    def _remember(self, path: Path) -> None:
        if path not in self.before:
            self.before[path] = path.read_bytes() if path.is_file() else None
            self.made += [d for d in path.parents if self.root in d.parents and not d.exists()]
            self.touched.append(path)

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        self._remember(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def regenerate(self, name: str, fixture: str) -> None:
        from coursekit.fixtures import regenerate

        self._remember(self.root / fixture)
        regenerate(load_assignment(self.root, name), self.root)

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            return
        for path, data in self.before.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)
        for d in sorted(set(self.made), key=lambda p: len(p.parts), reverse=True):
            shutil.rmtree(d, ignore_errors=True)


# --- course add ------------------------------------------------------------------------------


def add_item(root: Path, name: str, kind: str, *, grade_id: str | None = None, points: int = POINTS,
             notebook: str | None = None) -> list[Path]:
    """Add one item of ``kind`` (library, cell, written) to assignment ``name``: its declaration
    table, its cells at the end of ``notebook`` (default: the last), its check, its student file
    (a library item), the fixture rebuilt; the files written or changed.  ScaffoldError for a kind,
    grade id, points or notebook it cannot use: nothing is changed then, nor if a step fails."""
    root = Path(root)
    if kind not in KINDS:
        raise ScaffoldError(f"{kind!r} is not a kind of item: {', '.join(KINDS)}")
    try:
        assignment = load_assignment(root, name)
    except DeclarationError as exc:
        raise ScaffoldError(str(exc)) from None
    notebook = notebook or (assignment.notebooks[-1] if assignment.notebooks else "")
    if notebook not in assignment.notebooks:
        raise ScaffoldError(f"--notebook {notebook!r}: not one of {name}'s notebooks "
                            f"({', '.join(assignment.notebooks)})")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ScaffoldError(f"--points {points!r}: must be a positive whole number")
    nb = nbformat.read(root / "source" / name / f"{notebook}.ipynb", as_version=4)
    used = {i.grade_id for i in assignment.items} | {i.cell for i in assignment.items if i.cell}
    used |= {(c.metadata.get("nbgrader") or {}).get("grade_id") for c in nb.cells}
    grade_id = grade_id or _free_id(kind, used)
    if not GRADE_ID.match(grade_id) or not grade_id.isidentifier() or keyword.iskeyword(grade_id):
        raise ScaffoldError(f"--grade-id {grade_id!r}: a letter or _, then letters, digits and _ "
                            "(a Python name: the example function is called so)")
    if grade_id in used or (kind == "cell" and f"{grade_id}_code" in used):
        raise ScaffoldError(f"--grade-id {grade_id!r}: {name} has that grade id already")
    number = sum(1 for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")) + 1
    student = ""
    if kind == "library":
        if not assignment.student_files:
            raise ScaffoldError(f"{name} has no student file to put a library item's file next to: "
                                "declare one in [library.student] first")
        student = f"{Path(assignment.student_files[0]).parent.as_posix()}/{grade_id}.py"
        if (root / student).exists():
            raise ScaffoldError(f"{root / student} exists; choose another --grade-id")
    if kind != "written" and not assignment.checks:
        raise ScaffoldError(f"{name} declares no checks module (checks = ...), which an autograded item needs")
    item = NewItem(kind, grade_id, points, notebook, number, student, assignment.package)
    declaration_text = _added_declaration(assignment, item)
    nb.cells += item_cells(item)
    with _Undo(root) as undo:
        undo.write(f"source/{name}/{DECLARATION}", declaration_text)
        undo.write(f"source/{name}/{notebook}.ipynb", nbformat.writes(nb) + "\n")
        if kind != "written":
            checks = (root / assignment.checks).read_text(encoding="utf-8")
            undo.write(assignment.checks, checks + check_code(item))
        if kind == "library":
            undo.write(student, f'"""{name}: {grade_id}(x)."""\nimport numpy as np\n' + library_function(item))
        load_assignment(root, name)  # what was written must read back (DeclarationError otherwise)
        if kind != "written" and assignment.fixture:
            undo.regenerate(name, assignment.fixture)
    return undo.touched


def _free_id(kind: str, used: set) -> str:
    n = 1
    while f"{kind}{n}" in used or f"{kind}{n}_code" in used:
        n += 1
    return f"{kind}{n}"


def _added_declaration(assignment: Assignment, item: NewItem) -> str:
    """The declaration's text with the item's table appended (and its student file listed,
    total_points raised by its points); ScaffoldError where the text has no place for them."""
    text = assignment.source.read_text(encoding="utf-8")
    if item.kind == "library":
        header = re.search(r"^\[library\.student\][ \t]*(#.*)?$", text, re.MULTILINE)
        if header is None:
            raise ScaffoldError(f"{assignment.source}: no [library.student] table to list {item.student} in")
        # Right under the header, so the entry lands in that table whatever follows it.
        text = text[:header.end()] + f'\n"{item.student}" = ["{item.grade_id}"]' + text[header.end():]
    total = re.search(r"^total_points\s*=\s*(\d+)", text, re.MULTILINE)
    if total is not None:
        text = text[:total.start(1)] + str(int(total.group(1)) + item.points) + text[total.end(1):]
    return text.rstrip("\n") + "\n" + item_table(item)


# --- the files -----------------------------------------------------------------------------


def declaration(name: str, package: str, given: list[str], fixture: str, items: list[NewItem]) -> str:
    """The new assignment's ``assignment.toml``, its items' tables at the end."""
    given_list = ", ".join(f'"{rel}"' for rel in given)
    files = list(dict.fromkeys(i.student for i in items if i.student))
    student_lines = "\n".join(
        f'"{rel}" = [' + ", ".join(f'"{i.grade_id}"' for i in items if i.student == rel) + "]" for rel in files)
    total = sum(i.points for i in items)
    ids = ", ".join(i.grade_id for i in items)
    return f'''\
# {name}: what the kit needs to know about this assignment.  `course validate {name}`
# holds the notebooks, the library files and the checks to it.  Paths are relative to
# the course directory.  Written by `course new`: one example of each kind of item
# ({ids}); replace them with the assignment's own problems, and add more with
# `course add {name} library|cell|written` (see the kit's docs/authoring.md).

title = "{name}"
# The tester notebooks, source/{name}/<name>.ipynb, in the order students work through them.
notebooks = ["{NOTEBOOK}"]
# One check per autograded grade id: "run the student's code -> compare with a reference".
checks = "source/{name}/checks.py"
# The visible cases the notebooks show: `course fixtures {name}` rebuilds it from the checks
# (`course validate` refuses a fixture the checks no longer give).
fixture = "{fixture}"
# samples = "source/{name}/samples.py"   # typical mistakes (BUGS) for `course demo`'s buggy student
# Optional: validate holds the items and the graded cells to this total.
total_points = {total}

# Course files the notebooks import, each shipped at its own path (a module only this assignment
# uses can instead sit in source/{name}/, which nbgrader ships as it is):
# ship = ["helpers/__init__.py", "helpers/plots.py"]

[library]
package = "{package}"
# The files students write, and the top-level classes and functions each holds in this assignment.
[library.student]
{student_lines}
# Files students receive and may not change (released as they are, restored at grading).
[library.given]
files = [{given_list}]

[policy]
# Modules library code may import, beyond a few harmless standard-library ones.
modules = ["numpy"]

# The items, each with its points and the notebook holding its graded cell:
# * [[items]] with files = [...]: autograded; its check runs those student files (a broken file
#   costs exactly the items that list it);
# * [[items]] with cell = "...": autograded; its code is written in that notebook cell (an
#   ungraded code solution cell), and its check, declared with runs="cell", calls what it defines;
# * [[written]]: a written answer graded by hand, a markdown answer cell; blank in the release,
#   an answered one awaits a grader, one left blank scores 0.
''' + "".join(item_table(i) for i in items)


def item_table(item: NewItem) -> str:
    """The item's ``[[items]]`` or ``[[written]]`` table."""
    table = "written" if item.kind == "written" else "items"
    lines = [f"\n[[{table}]]", f'grade_id = "{item.grade_id}"', f"points = {item.points}",
             f'notebook = "{item.notebook}"']
    if item.kind == "library":
        lines.append(f'files = ["{item.student}"]')
    elif item.kind == "cell":
        lines.append(f'cell = "{item.grade_id}_code"')
    return "\n".join(lines) + "\n"


def checks_module(name: str, package: str) -> str:
    """The checks module's head: its documentation and the fixture hooks (the checks follow)."""
    return f'''\
"""The graded checks of {name}: one per autograded grade id of assignment.toml.

A check is "run the student's code on these inputs -> compare with a reference":

    checks.add(Check(grade_id, title, make_inputs, run, reference))

* ``make_inputs(rng, shape)`` builds the inputs, a dict of numpy arrays, from a seeded
  ``numpy.random.Generator``; ``shape`` holds the keyword arguments of a hidden test's
  ``check(grade_id, seed=..., N=...)``, so one function serves every case;
* ``run(lib, inputs)`` is the only code here that touches the student's work: ``lib`` is
  the student's library package ({package}), imported afresh; it returns a dict of arrays;
* ``reference(inputs)`` computes the expected arrays without the student's code.

For an item whose code is a notebook cell (``cell = ...`` in assignment.toml), the check is
declared with ``runs="cell"``: ``run(nb, inputs)`` then gets the cell's namespace instead of
the library and calls what the cell defines (``nb.triple(x["x"])``).

Outputs are compared by name (rtol 1e-6, atol 1e-8: ``Check(..., rtol=, atol=)``);
``flat={{...}}`` names outputs compared by value only, ``compare=`` replaces the comparison
with a property check, ``advice=`` adds extreme inputs that are reported, never deducted.

This module is shipped to students next to the notebooks, so it holds no solution; and it
is imported inside the grading sandbox: numpy and the standard library at the top, anything
else (PyTorch, to compute a reference) imported inside the reference function.

After changing a check, `course fixtures {name}` rebuilds the visible cases (`course validate`
refuses a fixture that no longer matches the checks).
"""
from __future__ import annotations

from importlib import import_module
from typing import Mapping

import numpy as np

from coursekit.runtime.checks import Arrays, Check, Checks, dim

checks = Checks()  # the kit finds this assignment's checks here

# --- the visible case of each check: what `course fixtures {name}` stores ------------------

FIXTURE_SEED = 0


def base_arrays() -> Arrays:
    """Handout arrays, stored in the fixture under their own names (optional hook)."""
    rng = np.random.default_rng(FIXTURE_SEED)
    return {{"X": rng.standard_normal((4, 3))}}


def fixture_inputs(grade_id: str, base: Arrays) -> Arrays:
    """The visible inputs of each check (optional hook; without it: the check's inputs at seed 0)."""
    if grade_id == "{EXAMPLES[0][1]}":
        return {{"x": base["X"]}}
    return checks[grade_id].inputs(FIXTURE_SEED)
'''


def check_code(item: NewItem) -> str:
    """The check of an autograded item, appended to the checks module ("" for a written one)."""
    g, k = item.grade_id, item.factor
    if item.kind == "written":
        return ""
    if item.kind == "library":
        module = item.student[len(item.package) + 1: -len(".py")].replace("/", ".")
        what = item.student
        run = (f"def run_{g}(lib, x: Arrays) -> Arrays:\n"
               f'    student = import_module(f"{{lib.__name__}}.{module}")\n'
               f'    return {{"y": student.{g}(x["x"].copy())}}')
        extra = ""
    else:
        what = "code the student writes in a notebook cell"
        run = (f"def run_{g}(nb, x: Arrays) -> Arrays:\n"
               '    """``nb``: what the student\'s cell defines (in the tester, the kernel\'s namespace)."""\n'
               f'    return {{"y": nb.{g}(x["x"].copy())}}')
        extra = ', runs="cell"'
    return f'''

# --- {g}: {what} ---


def inputs_{g}(rng: np.random.Generator, shape: Mapping[str, int]) -> Arrays:
    return {{"x": rng.standard_normal((dim(shape, "N", rng), dim(shape, "d", rng)))}}


{run}


def ref_{g}(x: Arrays) -> Arrays:
    return {{"y": {k} * x["x"]}}


checks.add(Check("{g}", "{g}(x)", inputs_{g}, run_{g}, ref_{g}{extra}))
'''


def student_file(name: str) -> str:
    return f'"""{name}: the example function (the assignment\'s own code replaces it)."""\nimport numpy as np\n'


def library_function(item: NewItem) -> str:
    """A library item's example function, its solution region in it."""
    return f'''

def {item.grade_id}(x):
    """{_times(item.factor).capitalize()} ``x``, element by element, for an array of any shape."""
    ### BEGIN SOLUTION
    return {item.factor} * np.asarray(x)
    ### END SOLUTION
'''


def _times(k: int) -> str:
    return {2: "twice", 3: "three times"}.get(k, f"{k} times")


def _meta(grade_id: str, *, grade: bool, solution: bool = False, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _ids(cells: list, prefix: str) -> list:
    for k, cell in enumerate(cells):
        cell["id"] = f"{prefix}-{k}"[-64:]
    return cells


def tester_notebook(name: str, fixture: str) -> nbformat.NotebookNode:
    """The notebook's introduction and setup cell; each item's cells follow (:func:`item_cells`)."""
    # check() reads the fixture the release's facts name (coursekit/runtime/checks/assignment.json).
    setup = "import numpy as np\nfrom coursekit.runtime.checks.tester import check"
    cells = [
        new_markdown_cell(f"""\
# {name}: example problems

Three kinds of problem: code you write in a library file (`.py`), code you write in a cell of
this notebook, and a written answer. Each says which it is and where your answer goes.

For code, each check runs it on the handout data (`{fixture}`) and prints your result next to
the expected one (a `.py` file is imported afresh by every check: change it, then re-run the
check's cell; no kernel restart needed). The autograder runs the same checks on inputs and
shapes you have not seen, so make your code correct in general, not just on these numbers.

**Try every check on new inputs yourself:** `check("<item>", seed=123)` (any seed; fix a
shape with a keyword such as `N=1`). A failing check prints the line to run."""),
        new_code_cell(setup, metadata=_meta("setup", grade=False)),
    ]
    nb = new_notebook(cells=_ids(cells, NOTEBOOK.lower()))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _test_cell(item: NewItem) -> nbformat.NotebookNode:
    g, n = item.grade_id, item.number
    return new_code_cell(f'check("{g}")\n### BEGIN HIDDEN TESTS\ncheck("{g}", seed={n}001, N=7, d=3)\n'
                         f'check("{g}", seed={n}002, N=1, d=1)\n### END HIDDEN TESTS',
                         metadata=_meta(g, grade=True, points=item.points))


def item_cells(item: NewItem) -> list[nbformat.NotebookNode]:
    """The cells of one item, with their nbgrader metadata: statement, then what the kind needs."""
    g, k, n, p = item.grade_id, item.factor, item.number, item.points
    equation = f"$$Y_{{ij}} = {k}\\,X_{{ij}}.$$"
    if item.kind == "library":
        cells = [new_markdown_cell(
            f"## {n} `{g}(x)`: {p} points\n\n**You edit:** `{item.student}`. Return {_times(k)} the input, "
            "element by element, for an\narray $X \\in \\mathbb{R}^{N \\times d}$ (or of any other shape):\n\n"
            + equation), _test_cell(item)]
    elif item.kind == "cell":
        cells = [new_markdown_cell(
            f"## {n} `{g}(x)`: {p} points\n\n**You write it here**, in the cell below (not in a `.py` file): "
            f"return {_times(k)} the\ninput, element by element. Run that cell, then the check under it.\n\n"
            + equation),
            new_code_cell(f"import numpy as np\n\n\ndef {g}(x):\n    ### BEGIN SOLUTION\n"
                          f"    return {k} * np.asarray(x)\n    ### END SOLUTION",
                          metadata=_meta(f"{g}_code", grade=False, solution=True)),
            _test_cell(item)]
    else:
        cells = [new_markdown_cell(
            f"## {n} A written answer: {p} points, graded by hand\n\nIn the cell below, in two or three "
            "sentences: why is the gradient of a function\nthat multiplies its input by a constant the same "
            "for every input?"),
            new_markdown_cell(
                f"### BEGIN SOLUTION\nModel answer ({g}): multiplying by a constant c is linear, so its "
                "Jacobian is c times the\nidentity whatever the input; the gradient passed back is c times "
                "the upstream gradient.\n### END SOLUTION", metadata=_meta(g, grade=True, solution=True, points=p))]
    return _ids(cells, g.replace("_", "-"))


def nbgrader_config(package: str) -> str:
    return f'''\
"""nbgrader settings for this course (written by `course new`); plain `nbgrader ...` commands read them too."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.course_id = "{package}"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.db_url = f"sqlite:///{{ROOT / 'gradebook.db'}}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.tmp"]


def student_files(declaration: Path) -> list[str]:
    """The files students write, as source/<assignment>/{DECLARATION} lists them ([library.student])."""
    with declaration.open("rb") as fh:
        return list(tomllib.load(fh).get("library", {{}}).get("student", {{}}))


# nbgrader restores every non-notebook file from source/ before grading; the files students
# write must be graded as handed in, so they are excluded.  Derived from each assignment's
# declaration, never typed here, so the two cannot drift.
c.Autograde.exclude_overwriting = {{path.parent.name: student_files(path)
                                   for path in sorted(ROOT.glob("source/*/{DECLARATION}"))}}

c.Execute.timeout = 300
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}

# nbgrader's formgrader over a course graded by `course autograde`: its Autograde, Generate
# Feedback and Generate buttons run the kit's (never plain nbgrader over the kit's results),
# and its submission page renders equations offline.  See coursekit/formgrader.
# Guarded: a config file that raises is dropped whole by nbgrader (exclude_overwriting with it).
try:
    from coursekit.formgrader import install  # noqa: E402
except ImportError as exc:
    import warnings

    warnings.warn(f"coursekit.formgrader not importable ({{exc}}): the formgrader's buttons are nbgrader's own")
else:
    install(c)
'''
