"""`course new <assignment>`: a new assignment that validates and releases as it stands.

It writes, in the course directory (which may be empty):

* ``source/<a>/assignment.toml``: the declaration, one autograded library item,
  and commented examples of an item whose code is a notebook cell and of a
  written (manually graded) answer;
* ``source/<a>/ExampleTester.ipynb``: a tester notebook, a problem statement
  with its equation, and a graded test cell with a visible ``check(...)`` and a
  hidden block;
* ``source/<a>/checks.py``: the example's check, and the fixture hooks;
* ``<package>/<module>/example.py``: the student file, a function with its
  solution region, and ``<package>/<module>/__init__.py``;
* the fixture, built by :func:`coursekit.fixtures.regenerate`;
* where the course has none yet, ``<package>/__init__.py`` and an
  ``nbgrader_config.py`` that derives its settings from the declarations.

Nothing that exists is overwritten: an existing assignment, or any file it
would write, is refused before anything is written; and if a step fails,
what was written is removed again.
"""
from __future__ import annotations

import keyword
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.assignment import DECLARATION, NAME, assignment_names, load_assignment
from coursekit.runtime.checks import fixture_of

NOTEBOOK = "ExampleTester"
GRADE_ID = "double"
POINTS = 2


class ScaffoldError(ValueError):
    """A name or a course directory `course new` cannot use; the message is one line."""


def module_name(assignment: str) -> str:
    """The Python name of the assignment's folder in the library package."""
    name = assignment.replace("-", "_")
    return f"{name}_" if keyword.iskeyword(name) else name


def scaffold(root: Path, name: str, package: str = "mytorch") -> list[Path]:
    """Write a new assignment ``name`` into the course directory ``root``; the files written.

    Raises ScaffoldError for a bad name or course directory and FileExistsError if the
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
    module = module_name(name)
    fixture = fixture_of(name)
    init = f"{package}/__init__.py"
    student = f"{package}/{module}/example.py"
    given = [f"{package}/{module}/__init__.py"]
    if not (root / init).exists() or not _declared_by_any(root, init):
        given.insert(0, init)  # ours (or no one's): released as it is
    files: dict[str, str] = {
        f"source/{name}/{DECLARATION}": declaration(name, package, student, given, fixture),
        f"source/{name}/checks.py": checks_module(name, package, module),
        f"source/{name}/{NOTEBOOK}.ipynb": nbformat.writes(tester_notebook(name, student, fixture)) + "\n",
        given[-1]: f'"""{name}: the assignment\'s part of the library."""\n',
        student: student_file(name),
    }
    optional = {init: f'"""{package}: the course\'s library, written by the students."""\n',
                "nbgrader_config.py": nbgrader_config(package)}
    files |= {rel: text for rel, text in optional.items() if not (root / rel).exists()}
    clash = [rel for rel in [*files, fixture] if (root / rel).exists()]
    if clash:
        raise FileExistsError(f"{root / clash[0]} exists; `course new {name}` writes only new files "
                              "(choose another name)")
    written: list[Path] = []
    made = {d for rel in [*files, fixture] for d in (root / rel).parents if d != root and root in d.parents
            and not d.exists()}
    try:
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        from coursekit.fixtures import regenerate

        assignment = load_assignment(root, name)
        path, _ = regenerate(assignment, root)
        written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        for d in sorted(made, key=lambda p: len(p.parts), reverse=True):
            shutil.rmtree(d, ignore_errors=True)
        raise
    order = {rel: k for k, rel in enumerate(
        [f"source/{name}/{DECLARATION}", f"source/{name}/{NOTEBOOK}.ipynb", f"source/{name}/checks.py",
         fixture, init, given[-1], student, "nbgrader_config.py"])}
    return sorted(written, key=lambda p: order.get(p.relative_to(root).as_posix(), len(order)))


def _declared_by_any(root: Path, rel: str) -> bool:
    for other in assignment_names(root):
        try:
            a = load_assignment(root, other)
        except ValueError:
            continue
        if rel in a.student_files + a.library_files:
            return True
    return False


# --- the files -----------------------------------------------------------------------------


def declaration(name: str, package: str, student: str, given: list[str], fixture: str) -> str:
    given_list = ", ".join(f'"{rel}"' for rel in given)
    return f'''\
# {name}: what the kit needs to know about this assignment.  `course validate {name}`
# holds the notebooks, the library files and the checks to it.  Paths are relative to
# the course directory.  Written by `course new`: replace the example ({GRADE_ID}) with
# the assignment's own problems (see the kit's docs/authoring.md).

title = "{name}"
# The tester notebooks, source/{name}/<name>.ipynb, in the order students work through them.
notebooks = ["{NOTEBOOK}"]
# One check per autograded grade id: "run the student's code -> compare with a reference".
checks = "source/{name}/checks.py"
# The visible cases the notebooks show: `course fixtures {name}` rebuilds it from the checks.
fixture = "{fixture}"
# samples = "source/{name}/samples.py"   # typical mistakes (BUGS) for `course demo`'s buggy student
# Optional: validate holds the items and the graded cells to this total.
total_points = {POINTS}

# Course files the notebooks import, each shipped at its own path (a module only this assignment
# uses can instead sit in source/{name}/, which nbgrader ships as it is):
# ship = ["helpers/__init__.py", "helpers/plots.py"]

[library]
package = "{package}"
# The files students write, and the top-level classes and functions each holds in this assignment.
[library.student]
"{student}" = ["{GRADE_ID}"]
# Files students receive and may not change (released as they are, restored at grading).
[library.given]
files = [{given_list}]

[policy]
# Modules library code may import, beyond a few harmless standard-library ones.
modules = ["numpy"]

# One table per autograded item: its points, the notebook holding its graded test cell, and
# the student files its check runs (a broken file costs exactly the items that list it).
[[items]]
grade_id = "{GRADE_ID}"
points = {POINTS}
notebook = "{NOTEBOOK}"
files = ["{student}"]

# An item whose code students write in a notebook cell instead of the library: `cell` is
# the grade id of an ungraded code solution cell of the same notebook (its code between
# ### BEGIN SOLUTION and ### END SOLUTION, and the imports it needs).  Its check is declared
# with runs="cell": the grader runs that cell alone in the sandbox and the check's run()
# calls what it defines.  Its graded test cell is as for any item.
# [[items]]
# grade_id = "triple"
# points = 2
# notebook = "{NOTEBOOK}"
# cell = "triple_code"

# A written answer, graded by hand: a markdown cell of the notebook marked "Manually graded
# answer" (graded and a solution cell) with this grade id and points.  It is blank in the
# release; an answered one awaits manual grading, one left blank scores 0.
# [[written]]
# grade_id = "explain"
# points = 2
# notebook = "{NOTEBOOK}"
'''


def checks_module(name: str, package: str, module: str) -> str:
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

For an item whose code is a notebook cell (``cell = ...`` in assignment.toml), declare the
check with ``runs="cell"``: ``run(nb, inputs)`` then gets the cell's namespace instead of
the library and calls what the cell defines (``nb.triple(x["x"])``).

Outputs are compared by name (rtol 1e-6, atol 1e-8: ``Check(..., rtol=, atol=)``);
``flat={{...}}`` names outputs compared by value only, ``compare=`` replaces the comparison
with a property check, ``advice=`` adds extreme inputs that are reported, never deducted.

This module is shipped to students next to the notebooks, so it holds no solution; and it
is imported inside the grading sandbox: numpy and the standard library at the top, anything
else (PyTorch, to compute a reference) imported inside the reference function.
"""
from __future__ import annotations

from importlib import import_module
from typing import Mapping

import numpy as np

from coursekit.runtime.checks import Arrays, Check, Checks, dim

checks = Checks()  # the kit finds this assignment's checks here

STUDENT_MODULE = "{module}.example"  # inside the library package


# --- {GRADE_ID} --------------------------------------------------------------------


def inputs_{GRADE_ID}(rng: np.random.Generator, shape: Mapping[str, int]) -> Arrays:
    return {{"x": rng.standard_normal((dim(shape, "N", rng), dim(shape, "d", rng)))}}


def run_{GRADE_ID}(lib, x: Arrays) -> Arrays:
    student = import_module(f"{{lib.__name__}}.{{STUDENT_MODULE}}")
    return {{"y": student.{GRADE_ID}(x["x"].copy())}}


def ref_{GRADE_ID}(x: Arrays) -> Arrays:
    return {{"y": 2 * x["x"]}}


checks.add(Check("{GRADE_ID}", "{GRADE_ID}(x)", inputs_{GRADE_ID}, run_{GRADE_ID}, ref_{GRADE_ID}))

# --- the visible case of each check: what `course fixtures {name}` stores ------------------

FIXTURE_SEED = 0


def base_arrays() -> Arrays:
    """Handout arrays, stored in the fixture under their own names (optional hook)."""
    rng = np.random.default_rng(FIXTURE_SEED)
    return {{"X": rng.standard_normal((4, 3))}}


def fixture_inputs(grade_id: str, base: Arrays) -> Arrays:
    """The visible inputs of each check (optional hook; without it: the check's inputs at seed 0)."""
    if grade_id == "{GRADE_ID}":
        return {{"x": base["X"]}}
    return checks[grade_id].inputs(FIXTURE_SEED)
'''


def student_file(name: str) -> str:
    return f'''\
"""{name}: the example function (the assignment's own code replaces it)."""
import numpy as np


def {GRADE_ID}(x):
    """Twice ``x``, element by element, for an array of any shape."""
    ### BEGIN SOLUTION
    return 2 * np.asarray(x)
    ### END SOLUTION
'''


def _meta(grade_id: str, *, grade: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": True, "schema_version": 3, "solution": False,
            "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def tester_notebook(name: str, student: str, fixture: str) -> nbformat.NotebookNode:
    # check() reads the fixture the release's facts name (coursekit/runtime/checks/assignment.json).
    setup = "import numpy as np\nfrom coursekit.runtime.checks.tester import check"
    cells = [
        new_markdown_cell(f"""\
# {name}: an example problem

**You edit:** `{student}`. This notebook only runs tests: change the `.py` file, then re-run
the cells (each check imports your code afresh, so a kernel restart is not needed).

Each check runs your code on the handout data (`{fixture}`) and prints your result next to
the expected one. The autograder runs the same checks on inputs and shapes you have not seen,
so make your code correct in general, not just on these numbers.

**Try every check on new inputs yourself:** `check("{GRADE_ID}", seed=123)` (any seed; fix a
shape with a keyword such as `N=1`). A failing check prints the line to run."""),
        new_code_cell(setup, metadata=_meta("setup", grade=False)),
        new_markdown_cell(f"""\
## 1 `{GRADE_ID}(x)`: {POINTS} points

Return twice the input, element by element, for an array $X \\in \\mathbb{{R}}^{{N \\times d}}$
(or of any other shape):

$$Y_{{ij}} = 2\\,X_{{ij}}.$$"""),
        new_code_cell(f'''\
check("{GRADE_ID}")
### BEGIN HIDDEN TESTS
check("{GRADE_ID}", seed=1001, N=7, d=3)
check("{GRADE_ID}", seed=1002, N=1, d=1)
### END HIDDEN TESTS''', metadata=_meta(GRADE_ID, grade=True, points=POINTS)),
    ]
    for k, cell in enumerate(cells):
        cell["id"] = f"{NOTEBOOK.lower()}-{k}"
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


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
