"""nbgrader's formgrader over a course graded by ``course autograde``.

The course's ``nbgrader_config.py`` calls :func:`install`.  What changes, only
in the formgrader (its buttons call nbgrader through ``NbGraderAPI``; the
``nbgrader`` command line, which ``course autograde --engine nbgrader`` uses,
is left as it is), and only for an assignment the course declares
(``source/<a>/assignment.toml``; any other goes to nbgrader as before):

* **Autograde** (a submission) runs ``course autograde <a> --student <s> --force``:
  the kit's sandboxed grader, which keeps every score a grader set by hand.
* **Generate Feedback** (a submission, or all) re-renders the kit's
  ``feedback.html`` and ``results.json`` from the stored result and the
  gradebook (what ``course autograde`` does for an unchanged submission); a
  submission the kit has not graded is refused with a message, never given
  nbgrader's feedback in place of the kit's.
* **Generate** (an assignment) runs ``course release <a> --force``.
* The submission page loads MathJax from the Jupyter server's own copy
  (jupyter-server-mathjax), so equations render offline.
* What a student wrote is inert on that page: answers and outputs sanitised,
  script-bearing outputs dropped, a strict Content-Security-Policy on the
  page and on the files it serves (see :mod:`coursekit.formgrader.inert`).
* The listing pages read a submission's ``timestamp.txt`` with the kit's parser, which
  never raises: through the exchange a student writes that file.

The listing views agree with the kit because ``course autograde`` writes what
nbgrader's autograde writes there: the hand-in time on the submission and
``autograded/<s>/<a>/timestamp.txt``, and a name for a student without one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
KIT = Path(__file__).resolve().parents[2]  # the folder holding the coursekit package
_ORIGINAL: dict[str, object] = {}


def install(c) -> None:
    """Point the formgrader's buttons at the kit and its submission page at offline MathJax;
    make what students wrote inert there."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.server_extensions.formgrader import handlers

    from coursekit.formgrader import inert

    # nbgrader's formgrader sets its own template folder the same way; the kit's comes first.
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), handlers.template_path]
    inert.configure(c)
    inert.patch_handlers(handlers)
    for name, replacement in (("autograde", autograde), ("generate_feedback", generate_feedback),
                              ("generate_assignment", generate_assignment),
                              ("get_submitted_timestamp", get_submitted_timestamp)):
        if name not in _ORIGINAL:
            _ORIGINAL[name] = getattr(NbGraderAPI, name)
            setattr(NbGraderAPI, name, replacement)


def _kit_course(api, assignment_id: str):
    """(course, assignment) if the course declares this assignment, else None (nbgrader's own)."""
    from coursekit.course import Course, CourseError

    course = Course(Path(api.coursedir.root), db_url=api.coursedir.db_url)
    if not (course.repo / "source" / assignment_id / "assignment.toml").is_file():
        return None
    try:
        return course, course.assignment(assignment_id)
    except CourseError:
        return None


def _run_course(course, *args: str) -> dict:
    """Run the kit's ``course`` command; nbgrader's answer shape: success, log (and error)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(KIT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "coursekit.cli", "--course", str(course.root), "--db", course.db_url, *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=course.root)
    log = f"$ course {' '.join(args)}\n{done.stdout}{done.stderr}"
    if done.returncode:
        return {"success": False, "error": f"course {' '.join(args)} failed (exit {done.returncode})\n{done.stderr}",
                "log": log}
    return {"success": True, "log": log}


def autograde(self, assignment_id, student_id, force=True, create=True):
    found = _kit_course(self, assignment_id)
    if found is None:
        return _ORIGINAL["autograde"](self, assignment_id, student_id, force=force, create=create)
    return _run_course(found[0], "autograde", assignment_id, "--student", student_id, "--force")


def generate_assignment(self, assignment_id, force=True, create=True):
    found = _kit_course(self, assignment_id)
    if found is None:
        return _ORIGINAL["generate_assignment"](self, assignment_id, force=force, create=create)
    return _run_course(found[0], "release", assignment_id, "--force")


def generate_feedback(self, assignment_id, student_id=None, force=True):
    found = _kit_course(self, assignment_id)
    if found is None:
        return _ORIGINAL["generate_feedback"](self, assignment_id, student_id, force=force)
    course, assignment = found
    return refresh(course, assignment, [student_id] if student_id is not None else course.students(assignment_id))


def get_submitted_timestamp(self, assignment_id, student_id):
    """The hand-in time the listing pages compare with the gradebook's, read as ``course autograde``
    reads it: a ``timestamp.txt`` a student wrote through the exchange (a zone that is a path, a year
    out of range) is no time, never an error that fails the pages of the whole assignment."""
    found = _kit_course(self, assignment_id)
    if found is None:
        return _ORIGINAL["get_submitted_timestamp"](self, assignment_id, student_id)
    from coursekit.autograde.record import submitted_timestamp

    return submitted_timestamp(found[0], found[1], student_id)


def refresh(course, assignment, students: list[str]) -> dict:
    """The kit's feedback page and results.json again, with what graders set since; a student
    the kit has not graded is named, and nothing of theirs is written."""
    from coursekit.feedback import refresh_outputs

    done, missing, log = [], [], []
    for student in students:
        try:
            ok = refresh_outputs(course, assignment, student)
        except Exception as exc:  # noqa: BLE001 - one student never stops the others
            ok = False
            log.append(f"[ERROR] {student}: {type(exc).__name__}: {exc}")
        (done if ok else missing).append(student)
    log += [f"[INFO] {s}: feedback/{s}/{assignment.name}/feedback.html and results.json rewritten from "
            "the kit's result and the gradebook" for s in done]
    if missing:
        message = (f"not graded by `course autograde` yet: {', '.join(missing)}; nothing written for them. "
                   f"Run `course autograde {assignment.name}` (or the Autograde button) first; nbgrader's own "
                   "feedback is not generated, since it would replace the kit's.")
        log.append(f"[ERROR] {message}")
        return {"success": False, "error": message, "log": "\n".join(log)}
    return {"success": True, "log": "\n".join(log)}
