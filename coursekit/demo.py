"""`course demo`: the whole instructor pipeline on sample submissions.

It works in its own course root (``demo/`` by default) with its own SQLite
gradebook, so sample students never mix with a real class.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from coursekit.assignment import REPO
from coursekit.course import Course, CourseError

MARKER = ".coursekit-demo"


def fresh_root(folder: Path) -> Path:
    """An empty demo folder; refuses to clear a folder the demo did not make."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise CourseError(f"{folder} exists and was not made by `course demo`; choose another --folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `course demo`; deleted and rebuilt by every run\n")
    return folder


def run_demo(folder: Path, repo: Path = REPO) -> dict[str, dict[str, dict[str, float]]]:
    """Every assignment the course declares, end to end; assignment -> student -> item -> points."""
    from coursekit.autograde.run import autograde
    from coursekit.gradebook import item_scores, score_table, write_csv
    from coursekit.release import release
    from coursekit.gradeplots import plot_grades
    from coursekit.samples import make_samples
    from coursekit.validate import validate_or_raise

    course = Course.copy_of(repo, fresh_root(Path(folder)))
    names = course.assignments()
    if not names:
        raise CourseError(f"{repo}: declares no assignment (source/<name>/assignment.toml)")
    results = {}
    for name in names:
        assignment = course.assignment(name)
        step = _steps(5, name)
        step("validate the source")
        validate_or_raise(assignment, course.repo)
        step("release the student version")
        release(assignment, course, force=True)
        step("hand in sample submissions: reference, blank, buggy")
        make_samples(assignment, course)
        step("autograde (outside the students' processes)")
        summary = autograde(assignment, course, config=_config(assignment))
        if summary.failed:
            raise CourseError(f"could not grade: {summary.failed}")
        step("scores")
        scores = item_scores(course.db_url, assignment)
        print(score_table(scores, assignment))
        csv = write_csv(scores, assignment, course.root / f"{assignment.name}_grades.csv")
        png = plot_grades(scores, assignment, course.root / f"{assignment.name}_grades.png")
        print(f"\ngrades: {csv}\nplot:   {png}")
        results[name] = scores
    return results


def _config(assignment):
    from coursekit.autograde import sandbox
    from coursekit.autograde.grader import GraderConfig

    if sandbox.available():
        return GraderConfig.for_assignment(assignment)
    # The demo's own samples are trusted, so it may run where bubblewrap is
    # missing; real grading refuses to (see docs/security.md).
    print("note: bubblewrap is not usable here; the demo grades its trusted samples with resource "
          "limits only. Install it (apt-get install bubblewrap) before grading real submissions.")
    return GraderConfig.for_assignment(assignment, require_sandbox=False)


def _steps(total: int, name: str):
    count = iter(range(1, total + 1))
    return lambda title: print(f"\n[{name} {next(count)}/{total}] {title}", flush=True)
