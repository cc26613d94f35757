"""Issue 19, the new instructor's path: `.venv/bin/course` run without activating the environment,
in a fresh course and in a copy of this repo's course.  An assignment named to sort before the
others is taught first because course.toml says so; each kind of item is added by command; a
checks edit without regenerating the fixture fails validate (naming the items) and release; a
planted real leak fails release, the course left exactly as it was; a blank hand-in scores 0 and
the reference full marks, its written answers awaiting a grader."""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from coursekit.autograde import sandbox
from coursekit.cli import main
from coursekit.course import Course

REPO = Path(__file__).resolve().parent.parent
COURSE_BIN = Path(sys.executable).parent / "course"  # the console script `pip install -e .` writes
NB = "ExampleTester"
ADDED = ("library1", "cell1", "written1")  # what `course add hw0 <kind>` names them
# The solution line of the added library item (the fourth problem of the notebook multiplies by 5).
LIBRARY1_SOLUTION = "return 5 * np.asarray(x)"
STUDENT_ANSWER = "Multiplying by a constant is linear, so the gradient is that constant times the upstream one."

needs_sandbox = pytest.mark.skipif(not sandbox.available(),
                                   reason="bubblewrap is not usable here (apt-get install bubblewrap)")
needs_console_script = pytest.mark.skipif(not COURSE_BIN.is_file(),
                                          reason=f"{COURSE_BIN}: no console script (pip install -e .)")


def bare_env() -> dict[str, str]:
    """The environment of a shell that never activated the venv: its bin folder is not on PATH."""
    venv_bin = str(COURSE_BIN.parent)
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p and p != venv_bin]
    # PYTHONPATH: this checkout's kit, whichever checkout the console script was installed from.
    return dict(os.environ, PATH=os.pathsep.join(path), PYTHONPATH=str(REPO))


def shell(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`course ARGS` typed in ``root`` as `.venv/bin/course ARGS`."""
    return subprocess.run([str(COURSE_BIN), *args], cwd=root, env=bare_env(), capture_output=True, text=True,
                          timeout=900)


def course(*args: str) -> tuple[int, str, str]:
    """`course ARGS` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


# --- a fresh course ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """An empty folder; hw1, then hw0 before it, each kind added to hw0 by command; both released."""
    if not COURSE_BIN.is_file():
        pytest.skip(f"{COURSE_BIN}: no console script")
    root = tmp_path_factory.mktemp("fresh") / "course"
    root.mkdir()
    ok(shell(root, "new", "hw1"))
    ok(shell(root, "new", "hw0", "--before", "hw1"))
    for kind in ("library", "cell", "written"):
        ok(shell(root, "add", "hw0", kind))
    assert ok(shell(root, "validate", "hw0")).strip() == "hw0: source is valid"
    ok(shell(root, "release", "hw0"))
    ok(shell(root, "release", "hw1"))
    return root


def test_the_course_file_orders_the_assignments_not_their_names(fresh):
    # "hw0" sorts before "hw1" either way; --before put it there in course.toml, which decides.
    assert 'assignments = ["hw0", "hw1"]' in (fresh / "course.toml").read_text()
    assert Course(fresh).assignments() == ["hw0", "hw1"]
    released = files_under(fresh / "release/hw0")
    assert not [rel for rel in released if "hw1" in rel]  # nothing of the later assignment


def test_each_kind_is_added_by_command_with_its_cells_check_and_file(fresh):
    a = Course(fresh).assignment("hw0")
    kinds = {i.grade_id: ("written" if i.manual else "cell" if i.cell else "library") for i in a.items}
    assert kinds == {"double": "library", "triple": "cell", "explain": "written",
                     "library1": "library", "cell1": "cell", "written1": "written"}
    assert a.total_points == a.declared_total == 12
    assert "mytorch/hw0/library1.py" in a.student_files
    assert a.item("cell1").cell == "cell1_code"
    nb = nbformat.read(fresh / f"source/hw0/{NB}.ipynb", as_version=4)
    meta = {c.metadata["nbgrader"]["grade_id"]: (c.cell_type, c.metadata["nbgrader"]) for c in nb.cells
            if "nbgrader" in c.metadata}
    assert meta["library1"][0] == "code" and meta["library1"][1]["grade"] and meta["library1"][1]["points"] == 2
    assert meta["cell1_code"][0] == "code" and meta["cell1_code"][1]["solution"] and not meta["cell1_code"][1]["grade"]
    assert meta["written1"][0] == "markdown" and meta["written1"][1]["solution"] and meta["written1"][1]["grade"]
    checks = (fresh / "source/hw0/checks.py").read_text()
    assert 'checks.add(Check("library1"' in checks and 'checks.add(Check("cell1"' in checks
    assert 'runs="cell"' in checks.split('Check("cell1"')[1].splitlines()[0]


def test_the_student_readme_lists_everything_graded(fresh):
    readme = (fresh / "release/hw0/README.md").read_text()
    assert readme.startswith("# hw0\n")  # its title is its name: said once
    assert "## What is graded (12 points: 8 checked by the autograder, 4 graded by hand)" in readme
    rows = dict(re.findall(r"^\| `ExampleTester.ipynb` \| `(\w+)` \| (\d+) \|", readme, re.MULTILINE))
    assert rows == {g: "2" for g in ("double", "triple", "explain", "library1", "cell1", "written1")}
    assert "`mytorch/hw0/example.py`" in readme and "`mytorch/hw0/library1.py`" in readme
    assert "`cell1_code` (ExampleTester.ipynb)" in readme and "`written1` (ExampleTester.ipynb)" in readme


def test_a_checks_edit_without_new_fixtures_fails_validate_and_release(fresh, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(fresh, root, symlinks=True)
    checks = root / "source/hw0/checks.py"
    text = checks.read_text()
    assert 'return {"y": 3 * x["x"]}' in text  # triple's reference
    checks.write_text(text.replace('return {"y": 3 * x["x"]}', 'return {"y": 3 * x["x"] + 1}'))
    before = files_under(root)
    proc = shell(root, "validate", "hw0")
    assert proc.returncode == 1
    assert "data/hw0/testerData.npz: out of date" in proc.stdout and "'triple'" in proc.stdout
    assert "'double'" not in proc.stdout and "run `course fixtures hw0`" in proc.stdout
    proc = shell(root, "release", "hw0", "--force")
    assert proc.returncode == 1 and "nothing released" in proc.stderr and "out of date" in proc.stdout
    assert files_under(root) == before
    ok(shell(root, "fixtures", "hw0"))
    assert ok(shell(root, "validate", "hw0")).strip() == "hw0: source is valid"


def test_a_planted_leak_fails_the_release_and_leaves_the_course_as_it_was(fresh, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(fresh, root, symlinks=True)
    path = root / f"source/hw0/{NB}.ipynb"
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    setup.source += f"\n# hint: {LIBRARY1_SOLUTION}"  # the instructor's slip: a solution in a visible cell
    nbformat.write(nb, path)
    before = files_under(root)
    assert "gradebook.db" in before and "release/hw0/README.md" in before
    proc = shell(root, "release", "hw0", "--force")
    assert proc.returncode == 1 and "nothing released (the course is as it was)" in proc.stderr
    # Where it is, where it comes from (file and line), and why it is a secret; nothing else.
    assert proc.stdout.splitlines() == [f"release/hw0/{NB}.ipynb: cell 1: solution line from "
                                        f"mytorch/hw0/library1.py:8: {LIBRARY1_SOLUTION}"]
    assert files_under(root) == before  # the earlier release, the copies, the gradebook: all as they were


@needs_sandbox
def test_blank_scores_zero_and_the_reference_full_marks_with_written_answers_awaiting(fresh, tmp_path):
    from nbgrader.api import Gradebook

    from coursekit.gradebook import item_scores

    root = tmp_path / "course"
    shutil.copytree(fresh, root, symlinks=True)
    c = Course(root)
    shutil.copytree(c.folder("release", "hw0"), c.folder("submitted", "hw0", "blank"))
    reference = c.folder("submitted", "hw0", "reference")
    shutil.copytree(c.folder("release", "hw0"), reference)
    for rel in c.assignment("hw0").student_files:
        shutil.copyfile(root / rel, reference / rel)
    answer_cells(root / f"source/hw0/{NB}.ipynb", reference / f"{NB}.ipynb")
    proc = shell(root, "autograde", "hw0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scores = item_scores(c.db_url, c.assignment("hw0"))
    assert scores["blank"] == dict.fromkeys(("double", "triple", "explain", "library1", "cell1", "written1"), 0.0)
    assert scores["reference"] == {"double": 2.0, "triple": 2.0, "library1": 2.0, "cell1": 2.0,
                                   "explain": None, "written1": None}
    with Gradebook(c.db_url) as gb:
        for grade_id in ("explain", "written1"):
            assert gb.find_grade(grade_id, NB, "hw0", "reference").needs_manual_grade
            assert not gb.find_grade(grade_id, NB, "hw0", "blank").needs_manual_grade


def answer_cells(source: Path, handed_in: Path) -> None:
    """The reference's notebook: each code solution cell as the source has it (markers dropped), each
    written answer given."""
    src = {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(source, as_version=4).cells
           if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(handed_in, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in src and cell.cell_type == "code":
            cell.source = "\n".join(line for line in src[grade_id].source.split("\n") if "### " not in line)
        elif grade_id in src:
            cell.source = STUDENT_ANSWER
    nbformat.write(nb, handed_in)


def test_the_first_gradebook_is_made_without_the_environment_activated(fresh, tmp_path):
    # nbgrader runs `alembic` from PATH when it creates a gradebook, here in the course process.
    root = tmp_path / "course"
    shutil.copytree(fresh, root, symlinks=True)
    assert shutil.which("alembic", path=bare_env()["PATH"]) is None
    shutil.copytree(root / "release/hw0", root / "submitted/blank/hw0")
    proc = shell(root, "autograde", "hw0", "--db", f"sqlite:///{root / 'new.db'}")
    assert "alembic" not in proc.stderr
    assert "has no hw0; run `course release hw0` with it first" in proc.stderr  # the gradebook was made


# --- the repo's course: an assignment taught before hw1 -------------------------------------------


@pytest.fixture(scope="module")
def repo_course(tmp_path_factory) -> Course:
    c = Course.copy_of(REPO, tmp_path_factory.mktemp("repo") / "course")
    assert (c.root / "course.toml").read_text() == (REPO / "course.toml").read_text()
    status, out, err = course("new", "hw0", "--before", "hw1", "--course", str(c.root))
    assert status == 0, err
    return c


def test_an_assignment_before_hw1_validates_and_leaves_hw1_and_hw2_valid(repo_course):
    assert repo_course.assignments() == ["hw0", "hw1", "hw2"]
    for name in ("hw0", "hw1", "hw2"):
        status, out, err = course("--course", str(repo_course.root), "validate", name)
        assert status == 0 and out.strip() == f"{name}: source is valid", out + err


def test_an_assignment_before_hw1_releases_without_a_false_leak(repo_course):
    status, out, err = course("--course", str(repo_course.root), "release", "hw0")
    assert status == 0, err
    readme = (repo_course.folder("release", "hw0") / "README.md").read_text()
    assert "Write your code where it says" in readme and "`mytorch/hw0/example.py`" in readme


def test_stub_text_is_no_secret_of_a_notebook_only_assignment_taught_first(repo_course):
    """The issue's hw0: a notebook cell and a written answer, no library file.  nbgrader's stub in its
    released code cell is also in hw1's stubbed files; it is neither hw1's nor anyone's secret."""
    from coursekit import release as rel

    hw0 = repo_course.assignment("hw0")
    notebook_only = replace(hw0, items=tuple(i for i in hw0.items if not i.files), student_files=(),
                            student_names=(), library_files=())
    secrets = rel.collect_secrets(notebook_only, repo_course)
    assert not {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"} & set(secrets)
    assert not [s for s in secrets if s.startswith("raise NotImplementedError(")]
    # hw1's own lines are still secrets of a release before it.
    assert any(secret.what == "hw1's" for secret in secrets.values())


# --- course.toml and `course add`, one line each when wrong ---------------------------------------


def declare(root: Path, *names: str) -> None:
    for name in names:
        (root / "source" / name).mkdir(parents=True)
        (root / "source" / name / "assignment.toml").write_text("")


def test_course_order_follows_course_toml_and_names_only_without_it(tmp_path):
    from coursekit.library.markers import Scope, course_order

    declare(tmp_path, "intro", "hw1", "hw2", "extra")
    assert course_order(tmp_path) == ["extra", "hw1", "hw2", "intro"]  # no file: name order
    (tmp_path / "course.toml").write_text('[course]\nassignments = ["intro", "hw2", "hw1"]\n')
    # The unlisted come last (and validate refuses them).
    assert course_order(tmp_path) == ["intro", "hw2", "hw1", "extra"]
    order = course_order(tmp_path)
    assert Scope(0, 1, "FROM", "hw2").keeps("hw1", order) and not Scope(0, 1, "FROM", "hw2").keeps("intro", order)


def test_a_course_without_course_toml_says_its_order_once(tmp_path):
    assert course("new", "b1", "--course", str(tmp_path))[0] == 0
    assert course("new", "a1", "--course", str(tmp_path))[0] == 0
    assert 'assignments = ["b1", "a1"]' in (tmp_path / "course.toml").read_text()  # appended, not sorted
    (tmp_path / "course.toml").unlink()
    from coursekit import cli

    cli._NOTED.discard(tmp_path.resolve())
    status, out, err = course("validate", "b1", "--course", str(tmp_path))
    assert status == 0 and out.strip() == "b1: source is valid"
    assert err.count("\n") == 1 and "course.toml is missing, so the assignments are in name order (a1, b1)" in err
    # `course new` there writes the file, the assignments it has in that order first.
    assert course("new", "c1", "--course", str(tmp_path))[0] == 0
    assert 'assignments = ["a1", "b1", "c1"]' in (tmp_path / "course.toml").read_text()


def test_an_unlisted_assignment_and_a_broken_course_toml_are_refused(tmp_path):
    assert course("new", "a1", "--course", str(tmp_path))[0] == 0
    (tmp_path / "course.toml").write_text('[course]\nassignments = []\n')
    status, out, err = course("validate", "a1", "--course", str(tmp_path))
    assert status == 1 and "course.toml: [course] assignments does not list a1" in out
    (tmp_path / "course.toml").write_text('[course]\nassignments = "a1"\n')
    status, out, err = course("validate", "a1", "--course", str(tmp_path))
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "course.toml, line 2: [course] assignments must list the assignments in teaching order" in err


def test_new_in_an_unknown_place_writes_nothing(tmp_path):
    assert course("new", "a1", "--course", str(tmp_path))[0] == 0
    before = files_under(tmp_path)
    status, out, err = course("new", "a0", "--after", "nosuch", "--course", str(tmp_path))
    assert status == 1 and "--after nosuch: not an assignment of the course's order (it has: a1)" in err
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):  # argparse: one place only
        main(["new", "a0", "--after", "a1", "--before", "a1", "--course", str(tmp_path)])
    assert files_under(tmp_path) == before


def test_add_refuses_a_taken_grade_id_and_changes_nothing(tmp_path):
    assert course("new", "a1", "--course", str(tmp_path))[0] == 0
    before = files_under(tmp_path)
    status, out, err = course("add", "a1", "cell", "--grade-id", "double", "--course", str(tmp_path))
    assert status == 1 and "--grade-id 'double': a1 has that grade id already" in err
    status, out, err = course("add", "a1", "written", "--notebook", "Other", "--course", str(tmp_path))
    assert status == 1 and "--notebook 'Other': not one of a1's notebooks (ExampleTester)" in err
    assert files_under(tmp_path) == before


def test_add_puts_everything_back_when_a_step_fails(tmp_path, monkeypatch):
    from coursekit import fixtures

    assert course("new", "a1", "--course", str(tmp_path))[0] == 0
    before = files_under(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(fixtures, "regenerate", broken)
    status, out, err = course("add", "a1", "library", "--course", str(tmp_path))
    assert status == 1 and "the disk is full" in err
    assert files_under(tmp_path) == before


# --- the hand-in's cover: the declared title, no empty section ---------------------------------


def test_the_hand_in_cover_has_the_declared_title_and_no_empty_appendix(repo_course):
    import datetime as dt

    from coursekit.runtime.handin.document import cover
    from coursekit.runtime.handin.pdf import _cover_markdown
    from coursekit.runtime.handin.spec import spec_of

    hw1 = repo_course.assignment("hw1")
    assert spec_of(hw1).title == hw1.title == "MyTorch, part 1"
    hw0 = repo_course.assignment("hw0")
    notebook_only = replace(hw0, student_files=(), student_names=(), library_files=(),
                            items=tuple(i for i in hw0.items if not i.files), title="Warm-up")
    spec = spec_of(notebook_only)
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    body = cover(spec, "Ada", "ada", [], {}, when).body
    assert "<h1>hw0 — Warm-up</h1>" in body and "MyTorch" not in body
    assert "appendix" not in body.lower()
    markdown = _cover_markdown(spec, "Ada", "ada", [], {}, when)
    assert markdown.startswith("# hw0 — Warm-up\n") and "appendix" not in markdown
    # A title that is only the name is said once.
    assert "<h1>hw0</h1>" in cover(spec_of(hw0), "Ada", "ada", [], {"mytorch/hw0/example.py": "x = 1\n"},
                                   when).body
