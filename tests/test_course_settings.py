"""The kit follows nbgrader's CourseDirectory settings it depends on, and refuses, in one line, the
ones it cannot follow (issue 18, item 2)."""
from __future__ import annotations

import subprocess
import sys

from coursekit.cli import main
from coursekit.course import Course, CourseError, nbgrader_settings

import pytest

BASE = '''c = get_config()  # noqa: F821
from pathlib import Path
ROOT = Path(__file__).resolve().parent
from coursekit.formgrader import install
install(c)
'''


def course_with(tmp_path, settings: str) -> Course:
    (tmp_path / "nbgrader_config.py").write_text(BASE + settings)
    return Course(tmp_path)


def test_stage_folders_follow_the_settings(tmp_path):
    course = course_with(tmp_path, 'c.CourseDirectory.submitted_directory = "handins"\n'
                                   'c.CourseDirectory.feedback_directory = "returned"\n')
    assert course.folder("submitted", "hw9", "ada") == tmp_path / "handins" / "ada" / "hw9"
    assert course.folder("feedback", "hw9", "ada") == tmp_path / "returned" / "ada" / "hw9"
    assert course.folder("release", "hw9") == tmp_path / "release" / "hw9"
    (tmp_path / "handins" / "ada" / "hw9").mkdir(parents=True)
    (tmp_path / "submitted" / "bob" / "hw9").mkdir(parents=True)  # nbgrader would not look here
    assert course.students("hw9") == ["ada"]


def test_the_gradebook_is_where_the_settings_put_it(tmp_path):
    course = course_with(tmp_path, 'c.CourseDirectory.db_url = f"sqlite:///{ROOT / \'grades.sqlite\'}"\n')
    assert course.db_url == f"sqlite:///{tmp_path.resolve() / 'grades.sqlite'}"
    assert Course(tmp_path, db_url="sqlite:///elsewhere.db").db_url == "sqlite:///elsewhere.db"  # --db wins
    assert Course(tmp_path / "none").db_url.endswith("none/gradebook.db")  # no settings: nbgrader's default


def test_a_relative_sqlite_gradebook_is_where_nbgrader_finds_it(tmp_path, monkeypatch):
    """nbgrader runs in the course folder: a relative path means a file there, whatever our cwd."""
    course = course_with(tmp_path, 'c.CourseDirectory.db_url = "sqlite:///gradebook.db"\n')
    monkeypatch.chdir("/")
    assert course.db_url == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    assert Course(tmp_path, db_url="sqlite:///x.db").db_url == "sqlite:///x.db"  # --db as given


@pytest.mark.parametrize("setting", ['c.CourseDirectory.source_directory = "src"',
                                     'c.CourseDirectory.directory_structure = "{student_id}/{nbgrader_step}"'])
def test_a_setting_the_kit_cannot_honour_is_refused_in_one_line(tmp_path, capsys, setting):
    course = course_with(tmp_path, setting + "\n")
    with pytest.raises(CourseError, match=setting.split(".")[2].split(" ")[0]):
        course.check_settings()
    assert main(["scores", "hw1", "--course", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nbgrader_config.py" in err and "cannot honour" in err


def test_a_config_that_raises_is_named(tmp_path):
    with pytest.raises(CourseError, match=r"nbgrader_config.py: cannot be read \(NameError"):
        course_with(tmp_path, "c.CourseDirectory.db_url = undefined_name\n")


def test_reading_the_settings_patches_nothing_and_imports_no_nbgrader(tmp_path):
    """The formgrader hook is skipped: the kit's own process keeps nbgrader's API as it is."""
    (tmp_path / "nbgrader_config.py").write_text(BASE + 'c.CourseDirectory.course_id = "x"\n')
    code = ("import sys\nfrom coursekit.course import nbgrader_settings\n"
            f"print(nbgrader_settings({str(tmp_path)!r})['course_id'], 'nbgrader' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["x", "False"]


def test_the_repo_course_reads_its_own_settings(repo):
    settings = nbgrader_settings(repo)
    assert settings["course_id"] == "mytorch"
    Course(repo).check_settings()
