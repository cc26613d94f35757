"""nbgrader settings for this course (the template `course new` writes); plain `nbgrader ...` commands read them too."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.course_id = "mytorch"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'gradebook.db'}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.tmp"]


def student_files(declaration: Path) -> list[str]:
    """The files students write, as source/<assignment>/assignment.toml lists them ([library.student])."""
    with declaration.open("rb") as fh:
        return list(tomllib.load(fh).get("library", {}).get("student", {}))


# nbgrader restores every non-notebook file from source/ before grading; the files students
# write must be graded as handed in, so they are excluded.  Derived from each assignment's
# declaration, never typed here, so the two cannot drift.
c.Autograde.exclude_overwriting = {path.parent.name: student_files(path)
                                   for path in sorted(ROOT.glob("source/*/assignment.toml"))}

c.Execute.timeout = 300
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# nbgrader's formgrader over a course graded by `course autograde`: its Autograde, Generate
# Feedback and Generate buttons run the kit's (never plain nbgrader over the kit's results),
# and its submission page renders equations offline.  See coursekit/formgrader.
# Guarded: a config file that raises is dropped whole by nbgrader (exclude_overwriting with it).
try:
    from coursekit.formgrader import install  # noqa: E402
except ImportError as exc:
    import warnings

    warnings.warn(f"coursekit.formgrader not importable ({exc}): the formgrader's buttons are nbgrader's own")
else:
    install(c)
