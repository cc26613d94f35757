"""nbgrader settings for this course; plain `nbgrader ...` commands read them too."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # so that coursekit is importable without installing it

from coursekit.assignment import assignment_names, load_assignment  # noqa: E402

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.course_id = "mytorch"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'gradebook.db'}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.tmp"]

# nbgrader restores every non-notebook file from source/ before grading; the
# files students write must be graded as handed in, so they are excluded.
# Derived from each assignment's declaration, never typed here, so the two cannot drift.
c.Autograde.exclude_overwriting = {name: list(load_assignment(ROOT, name).student_files)
                                   for name in assignment_names(ROOT)}

c.Execute.timeout = 300
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
