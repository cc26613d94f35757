"""`course new`: in an empty directory, an assignment with one item of each kind (library,
notebook cell, written) that validates, releases without a leak and grades as it stands (blank
0, reference full marks with its written answer awaiting a grader).  And the CLI says what is
wrong in one line.  Adding items by command: tests/test_authoring.py."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.autograde import sandbox
from coursekit.cli import main
from coursekit.course import Course

REPO = Path(__file__).resolve().parent.parent
NB = "ExampleTester"
SOLUTION = "return 2 * np.asarray(x)"  # the scaffold's solution line
HIDDEN = 'check("double", seed=1001, N=7, d=3)'  # one of the scaffold's hidden tests
CELL_SOLUTION = "return 3 * np.asarray(x)"  # the solution of its notebook-cell item
CELL_HIDDEN = 'check("triple", seed=2001, N=7, d=3)'
MODEL_ANSWER = "Model answer (explain): multiplying by a constant c is linear"  # its written item's
STUDENT_ANSWER = "The derivative of 2x is 2 everywhere, so the gradient is 2 times the upstream one."

needs_sandbox = pytest.mark.skipif(not sandbox.available(),
                                   reason="bubblewrap is not usable here (apt-get install bubblewrap)")


def course(*args: str) -> tuple[int, str, str]:
    """`course ARGS` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def one_line_error(status: int, out: str, err: str) -> str:
    assert status != 0
    assert out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def released_text(folder: Path) -> str:
    """Every text file of a release, notebooks as written on disk."""
    texts = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and b"\0" not in path.read_bytes():
            texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def hand_in(course_: Course, name: str, student: str) -> Path:
    """submitted/<student>/<name>: a copy of the release, as a student downloads it."""
    dest = course_.folder("submitted", name, student)
    shutil.copytree(course_.folder("release", name), dest)
    return dest


def set_cell(folder: Path, notebook: str, grade_id: str, source: str) -> None:
    path = folder / f"{notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = source
    nbformat.write(nb, path)


def scores_rows(root: Path, name: str) -> dict[str, list[str]]:
    status, out, _ = course("--course", str(root), "scores", name)
    assert status == 0
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}


# --- an empty directory, `course new demo1`, validate, release, grade ---------------------------


@pytest.fixture(scope="module")
def new_course(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("new") / "course"
    root.mkdir()
    status, out, err = course("new", "demo1", "--course", str(root))
    assert status == 0, err
    return root, out


@pytest.fixture(scope="module")
def released(new_course) -> Path:
    root, _ = new_course
    status, out, err = course("--course", str(root), "validate", "demo1")
    assert status == 0 and out.strip() == "demo1: source is valid", out + err
    status, out, err = course("release", "demo1", "--course", str(root))
    assert status == 0, err
    return root


@pytest.fixture(scope="module")
def graded(released) -> Path:
    root = released
    c = Course(root)
    hand_in(c, "demo1", "blank")
    reference = hand_in(c, "demo1", "reference")
    shutil.copyfile(root / "mytorch/demo1/example.py", reference / "mytorch/demo1/example.py")
    set_cell(reference, NB, "triple_code", f"import numpy as np\n\n\ndef triple(x):\n    {CELL_SOLUTION}\n")
    set_cell(reference, NB, "explain", STUDENT_ANSWER)
    status, out, err = course("--course", str(root), "autograde", "demo1")
    assert status == 0, out + err
    return root


def test_new_writes_the_assignment_the_library_and_the_course_settings(new_course):
    root, out = new_course
    written = [line.removeprefix("wrote ") for line in out.splitlines() if line.startswith("wrote ")]
    assert written == ["source/demo1/assignment.toml", f"source/demo1/{NB}.ipynb", "source/demo1/checks.py",
                       "data/demo1/testerData.npz", "mytorch/__init__.py", "mytorch/demo1/__init__.py",
                       "mytorch/demo1/example.py", "nbgrader_config.py", "course.toml"]
    assert sorted(files_under(root)) == sorted(written)
    a = Course(root).assignment("demo1")
    # One item of each kind: a library item, code in a notebook cell, a written answer.
    assert [(i.grade_id, i.points, i.notebook, i.files, i.cell, i.manual) for i in a.items] == [
        ("double", 2, NB, ("mytorch/demo1/example.py",), "", False), ("triple", 2, NB, (), "triple_code", False),
        ("explain", 2, NB, (), "", True)]
    assert a.library_files == ("mytorch/__init__.py", "mytorch/demo1/__init__.py")
    assert Course(root).assignments() == ["demo1"] and 'assignments = ["demo1"]' in (root / "course.toml").read_text()
    nb = nbformat.read(root / f"source/demo1/{NB}.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and any("$$" in c.source for c in nb.cells)
    meta = {c.metadata["nbgrader"]["grade_id"]: (c.cell_type, c.metadata["nbgrader"]) for c in nb.cells
            if "nbgrader" in c.metadata}
    assert meta["double"][1]["points"] == 2 and meta["double"][1]["grade"] and meta["double"][1]["locked"]
    assert meta["triple_code"][0] == "code" and meta["triple_code"][1]["solution"]
    assert not meta["triple_code"][1]["grade"]
    assert meta["explain"][0] == "markdown" and meta["explain"][1]["solution"] and meta["explain"][1]["grade"]
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert test.source.startswith('check("double")\n### BEGIN HIDDEN TESTS\n') and HIDDEN in test.source


def test_the_generated_nbgrader_config_derives_exclusions_from_the_declarations(new_course, monkeypatch):
    root, _ = new_course
    config = (root / "nbgrader_config.py").read_text()
    # It loads without the kit installed too: the formgrader hook is then left out, with a warning.
    monkeypatch.setitem(sys.modules, "coursekit.formgrader", None)
    namespace = {"get_config": lambda: _Config(), "__file__": str(root / "nbgrader_config.py")}
    with pytest.warns(UserWarning, match="coursekit.formgrader not importable"):
        exec(compile(config, "nbgrader_config.py", "exec"), namespace)
    c = namespace["c"]
    assert c.Autograde.exclude_overwriting == {"demo1": ["mytorch/demo1/example.py"]}
    assert c.CourseDirectory.root == str(root)


class _Config:
    """Enough of traitlets' config object for `c.Section.option = value`."""

    def __getattr__(self, name):
        value = type(self)()
        setattr(self, name, value)
        return value


def test_validate_accepts_the_scaffold(released):
    assert (released / "release/demo1").is_dir()


def test_release_holds_no_solution_and_no_hidden_test(released):
    from coursekit.release import scan_release

    c = Course(released)
    folder = c.folder("release", "demo1")
    text = released_text(folder)
    assert SOLUTION not in text and "BEGIN SOLUTION" not in text
    assert HIDDEN not in text and "HIDDEN TESTS" not in text
    stub = (folder / "mytorch/demo1/example.py").read_text()
    assert "raise NotImplementedError" in stub and "def double(x):" in stub
    assert not (folder / "assignment.toml").exists() and not (folder / "checks.py").exists()
    assert (folder / "coursekit/runtime/checks/assignment.py").is_file()
    assert (folder / "data/demo1/testerData.npz").is_file()
    for secret in (CELL_SOLUTION, MODEL_ANSWER, CELL_HIDDEN):
        assert secret not in text
    released_nb = nbformat.read(folder / f"{NB}.ipynb", as_version=4)
    test = next(c for c in released_nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert test.source.strip() == 'check("double")'
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in released_nb.cells}
    assert "raise NotImplementedError" in cells["triple_code"] and "def triple(x):" in cells["triple_code"]
    assert cells["explain"].strip() == "YOUR ANSWER HERE"
    assert scan_release(c.assignment("demo1"), c) == []


@needs_sandbox
def test_blank_scores_zero_and_reference_full_marks(graded):
    from nbgrader.api import Gradebook

    from coursekit.gradebook import item_scores

    c = Course(graded)
    assert item_scores(c.db_url, c.assignment("demo1")) == {
        "blank": {"double": 0.0, "triple": 0.0, "explain": 0.0},
        "reference": {"double": 2.0, "triple": 2.0, "explain": None}}
    rows = scores_rows(graded, "demo1")
    assert rows["blank"] == ["0", "0", "0", "0/6"] and rows["reference"] == ["2", "2", "awaiting", "4+?/6"]
    with Gradebook(c.db_url) as gb:  # the written answer awaits a grader; a blank one does not
        assert gb.find_grade("explain", NB, "demo1", "reference").needs_manual_grade
        assert not gb.find_grade("explain", NB, "demo1", "blank").needs_manual_grade


def test_new_refuses_an_existing_assignment_and_changes_nothing(new_course):
    root, _ = new_course
    before = files_under(root / "source") | files_under(root / "mytorch")
    message = one_line_error(*course("new", "demo1", "--course", str(root)))
    assert "source/demo1/assignment.toml exists" in message
    assert files_under(root / "source") | files_under(root / "mytorch") == before


@pytest.mark.parametrize("args", [["1st"], ["a/b"], ["../up"], ["two words"], ["x" * 41], [""],
                                  ["ok", "--package", "my-lib"], ["ok", "--package", "class"]])
def test_new_refuses_bad_names_and_writes_nothing(tmp_path, args):
    message = one_line_error(*course("new", *args, "--course", str(tmp_path)))
    assert "name" in message
    assert list(tmp_path.iterdir()) == []


def test_new_refuses_to_overwrite_a_library_file(tmp_path):
    (tmp_path / "mytorch/demo1").mkdir(parents=True)
    (tmp_path / "mytorch/demo1/example.py").write_text("# the instructor's own\n")
    message = one_line_error(*course("new", "demo1", "--course", str(tmp_path)))
    assert "mytorch/demo1/example.py exists" in message
    assert files_under(tmp_path) == {"mytorch/demo1/example.py": b"# the instructor's own\n"}


def test_new_in_a_missing_directory_says_so(tmp_path):
    message = one_line_error(*course("new", "demo1", "--course", str(tmp_path / "nowhere")))
    assert "no such course directory" in message and not (tmp_path / "nowhere").exists()


def test_another_package_name(tmp_path):
    status, out, err = course("new", "demo1", "--package", "mylib", "--course", str(tmp_path))
    assert status == 0, err
    assert (tmp_path / "mylib/demo1/example.py").is_file() and not (tmp_path / "mytorch").exists()
    assert course("validate", "demo1", "--course", str(tmp_path))[0] == 0


# --- the CLI: one line for what is missing; --course before or after the subcommand -----------


def test_missing_course_directory_is_one_line():
    message = one_line_error(*course("--course", "/nonexistent", "validate", "x"))
    assert message == "course validate: error: /nonexistent: no such course directory"


def test_unknown_assignment_is_one_line(new_course):
    root, _ = new_course
    message = one_line_error(*course("--course", str(root), "validate", "nosuch"))
    assert "no declaration for assignment 'nosuch'" in message and "demo1" in message


def test_scores_before_any_release_is_one_line(tmp_path):
    assert course("new", "demo1", "--course", str(tmp_path))[0] == 0
    message = one_line_error(*course("scores", "demo1", "--course", str(tmp_path)))
    assert "no gradebook" in message and "course release demo1" in message


def test_course_option_after_the_subcommand_from_a_shell(tmp_path):
    """`python -m coursekit.cli new demo1 --course DIR`, then validate, run from elsewhere."""
    env = dict(os.environ, PYTHONPATH=str(REPO))  # this kit, not an installed one
    root = tmp_path / "course"
    root.mkdir()
    run = [sys.executable, "-m", "coursekit.cli"]
    for args in (["new", "demo1", "--course", str(root)], ["validate", "demo1", "--course", str(root)]):
        proc = subprocess.run(run + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "demo1: source is valid"
    proc = subprocess.run(run + ["validate", "nosuch", "--course", str(root)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1


# --- a second assignment next to the first; the reference hand-in in a student kernel -----------


def test_a_second_assignment_has_its_own_fixture_and_leaves_the_first_alone(graded):
    root = graded
    status, out, err = course("new", "demo2", "--course", str(root))
    assert status == 0, err
    a = Course(root).assignment("demo2")
    assert a.fixture == "data/demo2/testerData.npz" and (root / "data/demo2/testerData.npz").is_file()
    # The course's package __init__ belongs to demo1 already; demo2 ships its own folder only.
    assert a.library_files == ("mytorch/demo2/__init__.py",)
    assert Course(root).assignments() == ["demo1", "demo2"]  # appended to course.toml's order
    assert course("validate", "demo1", "--course", str(root))[0] == 0
    assert course("validate", "demo2", "--course", str(root))[0] == 0
    # check() finds it through the release's facts: the notebook names no path.
    nb = nbformat.read(root / f"source/demo2/{NB}.ipynb", as_version=4)
    assert "fixture" not in nb.cells[1].source


def test_the_reference_hand_in_runs_in_a_student_kernel(graded, tmp_path):
    """The released tester, with the reference's library and cells, passes every check in a kernel."""
    from nbclient import NotebookClient

    folder = tmp_path / "demo1"
    shutil.copytree(Course(graded).folder("submitted", "demo1", "reference"), folder)
    nb = nbformat.read(folder / f"{NB}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "PASS double" in printed and "PASS triple" in printed


def test_the_repos_nbgrader_config_is_the_template_course_new_writes(repo):
    # One text, so a course made with `course new` and this one configure nbgrader alike.
    from coursekit.scaffold import nbgrader_config

    expected = nbgrader_config("mytorch").replace("(written by `course new`)", "(the template `course new` writes)")
    assert (repo / "nbgrader_config.py").read_text() == expected
