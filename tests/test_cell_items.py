"""Items whose code is a notebook solution cell, graded out of process; and the per-assignment policy.

A tiny course is written here and released with real nbgrader: one library item (``double``,
in ``mylib/core.py``) and one cell item (``slope``, whose code is the solution cell
``slope_code`` of ``Tester.ipynb``).  Submissions are graded by the real Grader in the sandbox.
"""
from __future__ import annotations

import shutil
import sys
import types
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.autograde import sandbox
from coursekit.autograde.grader import Grader, GraderConfig
from coursekit.runtime.checks.policy import check_source
from coursekit.course import Course, CourseError
from kitcourse import graded_cell
from kitcourse import nbgrader_meta as meta

NEEDS_SANDBOX = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not usable here")
LIMITS = sandbox.Limits(wall_seconds=3, cpu_seconds=3, memory_bytes=1 << 30, max_processes=16,
                        max_output_bytes=16 << 10, max_file_bytes=8 << 20)
CONFIG = GraderConfig(limits=LIMITS)
NAME = "hwc"
NB = "Tester"
WHERE = "Tester.ipynb, cell slope_code"

DECLARATION = '''
title = "Cells"
notebooks = ["Tester"]
checks = "source/hwc/checks.py"
fixture = "data/hwc.npz"

[library]
package = "mylib"
[library.student]
"mylib/core.py" = ["double"]
[library.given]
files = ["mylib/__init__.py"]

[policy]
modules = ["numpy"]

[[items]]
grade_id = "double"
points = 2
notebook = "Tester"
files = ["mylib/core.py"]

[[items]]
grade_id = "slope"
points = 3
notebook = "Tester"
cell = "slope_code"
'''
CORE = '''import numpy as np


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return x + x
    ### END SOLUTION
'''
CHECKS = '''import numpy as np
from coursekit.runtime.checks import Check, Checks


def _inputs(rng, shape):
    return {"x": rng.standard_normal(shape.get("n", 3))}


checks = Checks()
checks.add(Check("double", "double", _inputs, lambda mt, x: {"y": mt.double(x["x"])},
                 lambda x: {"y": 2.0 * x["x"]}))
checks.add(Check("slope", "slope", _inputs, lambda nb, x: {"g": nb.slope(x["x"])},
                 lambda x: {"g": 3.0 * np.square(x["x"])}, runs="cell"))
'''
SOLUTION_CELL = '''import numpy as np


def slope(x):
    """The derivative of x ** 3."""
    ### BEGIN SOLUTION
    return 3 * x ** 2
    ### END SOLUTION
'''
HONEST_SLOPE = "import numpy as np\n\n\ndef slope(x):\n    return 3 * x ** 2\n"
HONEST_CORE = "import numpy as np\n\n\ndef double(x):\n    return x + x\n"


def test_cell(grade_id: str, points: int) -> nbformat.NotebookNode:
    return graded_cell(grade_id, points)


test_cell.__test__ = False  # a builder, not a pytest test


def write_course(root: Path) -> Course:
    (root / "mylib").mkdir(parents=True)
    (root / "mylib" / "__init__.py").write_text("from mylib.core import *\n")
    (root / "mylib" / "core.py").write_text(CORE)
    src = root / "source" / NAME
    src.mkdir(parents=True)
    (src / "assignment.toml").write_text(DECLARATION)
    (src / "checks.py").write_text(CHECKS)
    # The fixture its checks give: validate (and so release) refuses any other.
    from coursekit.assignment import load_assignment
    from coursekit.fixtures import build, write_npz

    declared = load_assignment(root, NAME)
    write_npz(root / declared.fixture, build(declared, root))
    nb = new_notebook(cells=[
        new_markdown_cell("# A tester"),
        new_code_cell("import numpy as np\nfrom coursekit.runtime.checks.tester import check"),
        new_code_cell(SOLUTION_CELL, metadata=meta("slope_code", solution=True)),
        test_cell("double", 2),
        test_cell("slope", 3),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / f"{NB}.ipynb")
    (root / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "test"\n'
        'c.CourseDirectory.db_url = "sqlite:///gradebook.db"\n')
    return Course(root)


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Course:
    from coursekit.release import release

    course = write_course(tmp_path_factory.mktemp("cells") / "course")
    release(course.assignment(NAME), course)
    return course


@pytest.fixture(scope="module")
def grader(released) -> Grader:
    return Grader(released.assignment(NAME), released, CONFIG)


def released_notebook(course: Course) -> nbformat.NotebookNode:
    return nbformat.read(course.folder("release", NAME) / f"{NB}.ipynb", as_version=4)


def cell_index(nb: nbformat.NotebookNode, grade_id: str) -> int:
    return next(k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def hand_in(course: Course, student: str, *, cell: str | None = None, core: str | None = HONEST_CORE,
            edit=None) -> None:
    """The release, with the solution cell's source replaced by ``cell`` (None: as released), the
    library file by ``core`` (None: as released), and then ``edit(notebook)`` applied."""
    folder = course.folder("submitted", NAME, student)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(course.folder("release", NAME), folder)
    if core is not None:
        (folder / "mylib" / "core.py").write_text(core)
    nb = released_notebook(course)
    if cell is not None:
        nb.cells[cell_index(nb, "slope_code")].source = cell
    if edit is not None:
        edit(nb)
    nbformat.write(nb, folder / f"{NB}.ipynb")


def grade(grader: Grader, course: Course, student: str, **kw):
    hand_in(course, student, **kw)
    result = grader.grade(student)
    return {i.grade_id: i for i in result.items}


# --- grading -------------------------------------------------------------------------------


@NEEDS_SANDBOX
def test_a_correct_cell_earns_its_item(grader, released):
    items = grade(grader, released, "good", cell=SOLUTION_CELL.replace("    ### BEGIN SOLUTION\n", "")
                  .replace("    ### END SOLUTION\n", ""))
    assert items["slope"].points == 3, items["slope"].reason
    assert items["double"].points == 2, items["double"].reason
    assert "== slope ==" in items["slope"].visible  # the visible case, shown as the notebook shows it


@NEEDS_SANDBOX
def test_the_released_cell_earns_nothing(grader, released):
    items = grade(grader, released, "blank", core=None)
    assert "raise NotImplementedError" in released_notebook(released).cells[cell_index(
        released_notebook(released), "slope_code")].source
    assert items["slope"].points == 0 and "not implemented yet" in items["slope"].reason
    assert items["double"].points == 0


@NEEDS_SANDBOX
def test_a_cell_may_use_the_library(grader, released):
    cell = "import mylib\n\n\ndef slope(x):\n    return 1.5 * mylib.double(x) * x\n"
    assert grade(grader, released, "uses_lib", cell=cell)["slope"].points == 3


@NEEDS_SANDBOX
def test_an_error_in_the_cell_names_the_cell_and_line(grader, released):
    cell = "import numpy as np\n\n\ndef slope(x):\n    return x @ np.ones((7, 7))\n"
    reason = grade(grader, released, "raises", cell=cell)["slope"].reason
    assert "ValueError" in reason and f"({WHERE}, line 5)" in reason, reason


# Each earns nothing beyond what honest code earns: the library item, and 0 for the cell.
HOSTILE_CELLS = {
    "patch_numpy": ("import numpy as np\nnp.allclose = lambda *a, **k: True\n\n\ndef slope(x):\n    return x\n",
                    f"{WHERE}, line 2: changes numpy itself"),
    "patch_numpy_evading_policy": (
        "import numpy as np\nsetattr(np, 'allclose', lambda *a, **k: True)\n"
        "setattr(np, 'isfinite', lambda a: np.ones(np.shape(a), bool))\n\n\n"
        "def slope(x):\n    return x * np.nan\n", "contains nan or inf"),
    "read_a_file": ("def slope(x):\n    return open('/etc/passwd').read()\n", f"{WHERE}, line 2: calls open()"),
    "read_the_checks_evading_policy": (
        "import numpy as np\n_B = getattr(np, '_' * 2 + 'builtins' + '_' * 2)\n"
        "_T = _B['op' + 'en']('SOURCE').read()\n\n\ndef slope(x):\n    return 3 * x ** 2\n",
        f"running {WHERE} failed: FileNotFoundError"),
    "loops_forever": ("while True:\n    pass\n", "stopped after 3 s"),
    "loops_forever_when_called": ("def slope(x):\n    while True:\n        pass\n", "stopped after 3 s"),
}


@NEEDS_SANDBOX
@pytest.mark.parametrize("name", sorted(HOSTILE_CELLS))
def test_a_hostile_cell_earns_nothing_more_than_honest_code(grader, released, name):
    cell, reason = HOSTILE_CELLS[name]
    cell = cell.replace("SOURCE", str(released.root / "source" / NAME / "checks.py"))
    items = grade(grader, released, name, cell=cell)
    assert items["slope"].points == 0 and reason in items["slope"].reason, items["slope"].reason
    assert items["double"].points == 2, items["double"].reason


@NEEDS_SANDBOX
def test_a_deleted_cell_costs_only_its_item(grader, released):
    def delete(nb):
        del nb.cells[cell_index(nb, "slope_code")]

    items = grade(grader, released, "deleted", edit=delete)
    assert items["slope"].points == 0
    assert items["slope"].reason == f"{WHERE}: the cell is missing (deleted, or its nbgrader metadata was removed)"
    assert items["double"].points == 2


@NEEDS_SANDBOX
def test_a_cell_that_does_not_parse_costs_only_its_item(grader, released):
    items = grade(grader, released, "syntax", cell="def slope(x)\n    return 3 * x ** 2\n")
    assert items["slope"].points == 0 and items["slope"].reason.startswith(f"{WHERE}, line 1: syntax error")
    assert items["double"].points == 2


@NEEDS_SANDBOX
def test_a_missing_notebook_costs_only_its_cell_items(grader, released):
    hand_in(released, "no_notebook")
    (released.folder("submitted", NAME, "no_notebook") / f"{NB}.ipynb").unlink()
    items = {i.grade_id: i for i in grader.grade("no_notebook").items}
    assert items["slope"].points == 0 and items["slope"].reason == f"{WHERE}: the notebook is missing"
    assert items["double"].points == 2


@NEEDS_SANDBOX
def test_a_cell_turned_markdown_or_doubled_is_not_run(grader, released):
    def to_markdown(nb):
        k = cell_index(nb, "slope_code")
        nb.cells[k] = new_markdown_cell(HONEST_SLOPE, metadata=nb.cells[k].metadata)

    def doubled(nb):
        k = cell_index(nb, "slope_code")
        nb.cells.insert(k, new_code_cell(HONEST_SLOPE, metadata=meta("slope_code", solution=True)))

    assert "no longer a code cell" in grade(grader, released, "markdown", edit=to_markdown)["slope"].reason
    items = grade(grader, released, "doubled", cell=HONEST_SLOPE, edit=doubled)
    assert items["slope"].points == 0 and "2 cells have this grade id" in items["slope"].reason


@NEEDS_SANDBOX
def test_code_in_any_other_cell_is_never_run(grader, released, tmp_path):
    """The function defined correctly in an added cell and in the imports cell earns nothing;
    the added cell's file is never written; the solution cell, as released, is what runs."""
    marker = tmp_path / "ran"
    added = f"{HONEST_SLOPE}\nwith open({str(marker)!r}, 'w') as fh:\n    fh.write('ran')\n"

    def edit(nb):
        nb.cells[1].source += "\n\n" + HONEST_SLOPE  # the imports cell, which no item declares
        nb.cells.insert(cell_index(nb, "slope_code") + 1, new_code_cell(added))
        nb.cells.append(new_code_cell(added, metadata=meta("extra", solution=True)))

    items = grade(grader, released, "other_cells", edit=edit)
    assert items["slope"].points == 0 and "not implemented yet" in items["slope"].reason
    assert items["double"].points == 2
    assert not marker.exists()


def test_a_check_must_say_it_runs_a_cell(released, tmp_path):
    course = Course(shutil.copytree(released.root, tmp_path / "course", symlinks=True))
    checks = course.root / "source" / NAME / "checks.py"
    checks.write_text(CHECKS.replace(', runs="cell"', ""))
    with pytest.raises(CourseError, match=r"check 'slope' has runs='library'.*runs='cell'"):
        Grader(course.assignment(NAME), course, GraderConfig(require_sandbox=False))


# --- what student code may import: the assignment's declaration --------------------------------

SCIPY_CELLS = {
    "import": "import numpy as np\nimport scipy\n\n\ndef slope(x):\n"
              "    return 3 * x ** 2 + 0 * scipy.special.erf(x)\n",
    "from_package": "import numpy as np\nfrom scipy import special\n\n\ndef slope(x):\n"
                    "    return 3 * x ** 2 + 0 * special.erf(x)\n",
    "from_module": "import numpy as np\nfrom scipy.special import erf\n\n\ndef slope(x):\n"
                   "    return 3 * x ** 2 + 0 * erf(x)\n",
}
# Imports at run time, past the source policy: only what the sandbox shows and the harness allows.
EVADING = '''import numpy as np
_B = getattr(np, "_" * 2 + "builtins" + "_" * 2)
_I = _B["_" * 2 + "import" + "_" * 2]


def slope(x):
    _I("{module}")
    return 3 * x ** 2
'''


@NEEDS_SANDBOX
@pytest.mark.parametrize("declared", [("numpy", "scipy"), ("numpy", "scipy.special")])
def test_declared_scipy_may_be_imported_every_way_but_torch_never(released, declared):
    grader = Grader(replace(released.assignment(NAME), allowed_modules=declared), released, CONFIG)
    for form, cell in SCIPY_CELLS.items():
        items = grade(grader, released, f"scipy_{form}", cell=cell)
        assert items["slope"].points == 3, (form, items["slope"].reason)
    items = grade(grader, released, "torch", cell=EVADING.format(module="torch"))
    assert items["slope"].points == 0 and "torch" in items["slope"].reason, items["slope"].reason


@NEEDS_SANDBOX
def test_undeclared_scipy_is_refused_and_unreachable(grader, released):
    for form, cell in SCIPY_CELLS.items():
        items = grade(grader, released, f"noscipy_{form}", cell=cell)
        assert items["slope"].points == 0 and f"{WHERE}, line 2: imports 'scipy" in items["slope"].reason, \
            (form, items["slope"].reason)
    for module in ("scipy.special", "torch"):
        items = grade(grader, released, "evading", cell=EVADING.format(module=module))
        assert items["slope"].points == 0 and module.split(".")[0] in items["slope"].reason, items["slope"].reason


@NEEDS_SANDBOX
def test_declared_scipy_in_a_library_file(released):
    grader = Grader(replace(released.assignment(NAME), allowed_modules=("numpy", "scipy.special")), released, CONFIG)
    core = "from scipy.special import erf\n\n\ndef double(x):\n    return x + x + 0 * erf(x)\n"
    assert grade(grader, released, "scipy_core", core=core)["double"].points == 2
    items = grade(Grader(released.assignment(NAME), released, CONFIG), released, "scipy_core", core=core)
    assert items["double"].points == 0 and "mylib/core.py, line 1: imports 'scipy.special'" in items["double"].reason


def test_a_declared_module_that_is_not_installed_is_a_course_error(released):
    assignment = replace(released.assignment(NAME), allowed_modules=("numpy", "no_such_package_xyz.sub"))
    with pytest.raises(CourseError, match="'no_such_package_xyz'.*not installed"):
        Grader(assignment, released, GraderConfig(require_sandbox=False))


@pytest.mark.parametrize("declared, source, refused", [
    (("numpy",), "import numpy as np\nfrom numpy.linalg import norm\n", None),
    (("numpy",), "import os\n", "imports 'os'"),
    (("numpy",), "import scipy\n", "imports 'scipy'"),
    (("numpy",), "from scipy.special import erf\n", "imports 'scipy.special'"),
    (("numpy", "scipy.special"), "import scipy\nscipy.special.erf(1)\n", None),
    (("numpy", "scipy.special"), "from scipy import special\nimport scipy.special as sp\n", None),
    (("numpy", "scipy.special"), "from scipy.special import erf\n", None),
    (("numpy", "scipy.special"), "import scipy\nscipy.stats.norm\n", "line 2: imports 'scipy.stats'"),
    (("numpy", "scipy.special"), "from scipy import special, stats\n", "imports 'scipy.stats'"),
    (("numpy", "scipy.special"), "from scipy import *\n", "imports 'scipy.*'"),
    (("numpy", "scipy.special"), "import scipy.stats\n", "imports 'scipy.stats'"),
    (("numpy", "scipy"), "import scipy.stats\nfrom scipy import optimize\n", None),
    (("numpy", "scipy"), "import torch\n", "imports 'torch'"),
    (("scipy",), "import numpy\n", "imports 'numpy'"),
])
def test_the_policy_follows_the_declared_modules(declared, source, refused):
    found = [str(v) for v in check_source(source, "f.py", declared, "mylib")]
    if refused is None:
        assert found == []
    else:
        assert len(found) == 1 and refused in found[0], found


def test_the_default_policy_is_numpy_the_package_and_the_kits_stdlib():
    assert check_source("import numpy as np\nimport math, functools\nimport mytorch.nn\n", "f.py") == []
    assert [v.message for v in check_source("import numpy as np\nnp.load('x')\n", "f.py")] == \
        ["uses numpy.load, which student code may not use"]


# --- the tester, in the notebook's kernel ----------------------------------------------------


@pytest.fixture
def kernel(released, monkeypatch):
    """This process as a notebook kernel would be: the assignment's checks shipped, a __main__ namespace."""
    from coursekit.runtime.checks import load_module

    checks = load_module(released.root / "source" / NAME / "checks.py")
    monkeypatch.setitem(sys.modules, "coursekit.runtime.checks.assignment", checks)
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    return main


def test_tester_check_runs_what_the_notebook_defined(released, kernel, capsys):
    from coursekit.runtime.checks.tester import CheckFailed, check

    fixture = released.root / "data" / "hwc.npz"
    with pytest.raises(CheckFailed, match="slope is not defined in this notebook yet"):
        check("slope", fixture=fixture)
    exec(compile("def slope(x):\n    return 3 * x ** 2\n", "<cell>", "exec"), kernel.__dict__)
    check("slope", fixture=fixture)
    check("slope", seed=1, n=5)
    out = capsys.readouterr().out
    assert "PASS slope" in out and "MyTorch" in out
    exec(compile("def slope(x):\n    return 3 * x\n", "<cell>", "exec"), kernel.__dict__)
    with pytest.raises(CheckFailed, match="values differ"):
        check("slope", seed=1, n=5)
    exec(compile("def slope(x):\n    raise NotImplementedError()\n", "<cell>", "exec"), kernel.__dict__)
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check("slope", fixture=fixture)
