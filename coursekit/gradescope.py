"""`course gradescope <assignment>`: an ``autograder.zip`` that grades one hand-in on Gradescope.

The zip holds:

* ``setup.sh`` — run once, as root, when Gradescope builds the image (Ubuntu
  22.04): installs Python 3.11 and bubblewrap with apt-get, makes a venv at
  ``/autograder/venv`` and pip-installs ``requirements.txt`` (the grader's own
  dependencies, pinned to the versions the instructor grades with) and PyTorch's
  CPU build (``coursekit.runtime.pytorch``).  ``COURSEKIT_SKIP_APT=1`` (or not being
  root) skips apt-get; ``COURSEKIT_GRADESCOPE_VENV`` puts the venv elsewhere.
* ``run_autograder`` — run for each submission: ``python -m coursekit.gradescope
  run`` over ``/autograder`` (``COURSEKIT_GRADESCOPE_ROOT`` points it at another
  folder laid out the same way, as the tests do).
* ``kit/coursekit/`` — this kit; ``course/`` — what the grader reads of the
  course: the assignment's declaration, checks and source notebooks (hidden
  cases; never shown to students), the fixture, the reference library (for the
  released stubs) and the release's notebooks (``release/<assignment>/``).
* ``gradescope.json`` — which assignment, and whether grading without the
  sandbox is allowed.

A run grades exactly as ``course autograde`` does: the upload in
``/autograder/submission`` (the hand-in zip, or its content) goes through the
same zip inspection as ``course collect`` (a folder is zipped first, links and
special files left out), the same :class:`~coursekit.autograde.grader.Grader`
runs it in the bubblewrap sandbox with the assignment's limits, and
``results.json`` comes from the same :func:`~coursekit.feedback.results_json`.
For Gradescope, every test gets a ``visibility``, and a written item is listed
with 0 of its points and a line saying it is graded by hand from the PDF.

Without a usable sandbox (Gradescope's container may forbid the namespaces
bubblewrap needs) the zip built without ``--allow-unsandboxed`` does not run
student code at all: results.json says the grader failed and why.  Built with
it, student code runs with resource limits only, in the throwaway container,
and results.json's output says so.

Whatever happens — a refused upload, a grader exception, the time running
out — a ``results.json`` is written; ``run_autograder`` writes one itself if
Python cannot even start.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from coursekit.assignment import DECLARATION, Assignment
from coursekit.safefs import is_utf8, printable
from coursekit.course import Course, CourseError

KIT = Path(__file__).resolve().parent
CONFIG = "gradescope.json"
STUDENT = "submission"  # the one student a Gradescope run grades
HAND_GRADED = "Graded by hand from the hand-in PDF: 0 points here until a grader scores it."
SANDBOX_MB = 384  # all student code of a submission may use (Gradescope's default container: 768 MB)
DEADLINE_SECONDS = 540  # Gradescope's default limit is 10 minutes; a results.json must be written before it
# What the grader imports besides the standard library and PyTorch (installed by coursekit.runtime.pytorch).
RUNTIME_PACKAGES = ("numpy", "nbformat", "python-dateutil", "nh3")  # nh3: the feedback page's sanitiser
GENERATED = ("__pycache__", ".ipynb_checkpoints")

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04).
# COURSEKIT_SKIP_APT=1 (or not being root) skips apt-get; COURSEKIT_GRADESCOPE_VENV puts
# the venv elsewhere; COURSEKIT_GRADESCOPE_BASE_PYTHON names the Python 3.11+ to build it from.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -f "$HERE/gradescope.json" ] || HERE=/autograder/source  # run from a copy outside the unzipped folder
VENV="${COURSEKIT_GRADESCOPE_VENV:-/autograder/venv}"
if [ "${COURSEKIT_SKIP_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # python3.11 is in Ubuntu 22.04's universe; bubblewrap is the sandbox; setpriv (util-linux)
    # drops root's uid inside it.
    apt-get install -y --no-install-recommends python3.11 python3.11-venv bubblewrap util-linux ca-certificates
fi
BASE="${COURSEKIT_GRADESCOPE_BASE_PYTHON:-$(command -v python3.11 || command -v python3)}"
"$BASE" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup.sh: $BASE is older than 3.11" >&2; exit 1; }
"$BASE" -m venv "$VENV"
cd "$HERE/kit"
# PyTorch's CPU build (no CUDA: the image stays small), then the pinned rest.
"$VENV/bin/python" -m coursekit.runtime.pytorch -r "$HERE/requirements.txt"
"$VENV/bin/python" -c 'import coursekit.gradescope, coursekit.autograde.grader, numpy, nbformat, torch'
chmod -R a+rX "$HERE" "$VENV"
echo "setup.sh: ready ($VENV)"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission into
# /autograder/results/results.json (COURSEKIT_GRADESCOPE_ROOT: another folder laid out the same way).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${COURSEKIT_GRADESCOPE_ROOT:-/autograder}"
# Gradescope runs a copy, /autograder/run_autograder: the unzipped autograder is then ROOT/source.
[ -f "$HERE/gradescope.json" ] || HERE="$ROOT/source"
PY="${COURSEKIT_GRADESCOPE_PYTHON:-${COURSEKIT_GRADESCOPE_VENV:-/autograder/venv}/bin/python}"
mkdir -p "$ROOT/results"
cd "$HERE/kit" && "$PY" -m coursekit.gradescope run --root "$ROOT" --source "$HERE"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # Python could not even start (or died): still a results.json that says so.
    cat > "$ROOT/results/results.json" <<EOF
{"score": 0, "output": "The autograder failed before grading (exit status $status): this is not your score. Please tell the course staff.", "tests": [], "visibility": "visible", "stdout_visibility": "hidden", "extra_data": {"grader_failed": true}}
EOF
fi
exit 0
"""


# -- building the zip ----------------------------------------------------------------------


def build(assignment: Assignment, course: Course, out: Path, *, allow_unsandboxed: bool = False) -> Path:
    """Write ``autograder.zip`` for ``assignment`` to ``out``; the course must have released it."""
    release = course.folder("release", assignment.name)
    if not release.is_dir():
        raise CourseError(f"{release} does not exist; run `course release {assignment.name}` first")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="coursekit-gradescope-") as tmp:
        stage = Path(tmp) / "autograder"
        stage.mkdir()
        ignore = shutil.ignore_patterns(*GENERATED, "*.pyc")
        shutil.copytree(KIT, stage / "kit" / "coursekit", ignore=ignore)
        copy = Course.copy_of(course.repo, stage / "course")
        # Of the other assignments only their declarations (the library's stubs name them).
        for other in (copy.root / "source").iterdir():
            if other.name == assignment.name:
                continue
            for path in sorted(other.iterdir()) if other.is_dir() else [other]:
                if path.name != DECLARATION:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        shutil.copytree(release, copy.folder("release", assignment.name), ignore=ignore)
        (stage / "requirements.txt").write_text(requirements(grader_packages(assignment)), encoding="utf-8")
        (stage / CONFIG).write_text(json.dumps({"assignment": assignment.name,
                                                "allow_unsandboxed": allow_unsandboxed}, indent=1) + "\n")
        (stage / "setup.sh").write_text(SETUP_SH)
        (stage / "run_autograder").write_text(RUN_AUTOGRADER)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(stage.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(stage).as_posix())
                    executable = path.name in ("setup.sh", "run_autograder")
                    info.external_attr = ((stat.S_IFREG | (0o755 if executable else 0o644)) << 16)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, path.read_bytes())
        partial.replace(out)
    return out


def grader_packages(assignment: Assignment) -> tuple[str, ...]:
    """The distributions the grader needs for ``assignment``: its own, and those of the installed
    modules student code may import (``[policy] modules``), which the sandbox shows."""
    from coursekit.autograde.grader import harness_modules

    owners = importlib.metadata.packages_distributions()
    found = list(RUNTIME_PACKAGES)
    for module in harness_modules(assignment.allowed_modules, assignment.package):
        if module not in owners:
            raise CourseError(f"student code may import {module!r} ([policy] modules), but it is not installed "
                              f"for {sys.executable}")
        found += owners[module]
    # PyTorch comes from coursekit.runtime.pytorch (its CPU build), not from the pins.
    return tuple(p for p in dict.fromkeys(found) if re.sub(r"[-_.]+", "-", p).lower() != "torch")


def requirements(packages: tuple[str, ...] = RUNTIME_PACKAGES) -> str:
    """The grader's dependencies and theirs, pinned to the versions installed here."""
    pins: dict[str, str] = {}
    todo = list(packages)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in pins:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise CourseError(f"the grader needs {name}, which is not installed for {sys.executable}") from None
        pins[key] = dist.version
        for req in dist.requires or []:
            if ";" in req and "extra" in req.split(";", 1)[1]:
                continue  # an optional extra
            if ";" in req and not _marker_holds(req.split(";", 1)[1]):
                continue
            todo.append(re.match(r"[A-Za-z0-9._-]+", req).group(0))
    lines = ["# The grader's own dependencies, pinned to the instructor's (`course gradescope`);",
             "# PyTorch's CPU build is installed by coursekit.runtime.pytorch."]
    return "\n".join(lines + [f"{name}=={version}" for name, version in sorted(pins.items())]) + "\n"


def _marker_holds(marker: str) -> bool:
    try:
        from packaging.markers import Marker

        return Marker(marker).evaluate()
    except Exception:  # noqa: BLE001 - without packaging, keep the requirement (pip decides)
        return True


# -- grading one upload ------------------------------------------------------------------------


class Refused(Exception):
    """The upload cannot be graded (unsafe or not a hand-in): the student's to fix."""


def run(root: Path, source: Path, *, deadline: float = DEADLINE_SECONDS) -> dict:
    """Grade ``root/submission`` into ``root/results/results.json``; returns what was written.

    Never raises: a failure of any kind writes a results.json that says so."""
    results = root / "results" / "results.json"
    assignment: Assignment | None = None
    start = time.monotonic()
    try:
        config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
        course = Course(source / "course")
        assignment = course.assignment(config["assignment"])
        with _deadline(deadline), tempfile.TemporaryDirectory(prefix="coursekit-gradescope-") as tmp:
            data = grade_upload(assignment, course, root / "submission", Path(tmp),
                                allow_unsandboxed=bool(config.get("allow_unsandboxed")))
    except Refused as exc:
        data = _not_graded(assignment, f"Your upload could not be graded: {exc}", start)
    except BaseException as exc:  # noqa: BLE001 - whatever failed, the student gets a results.json
        traceback.print_exc()
        data = _not_graded(assignment, "The autograder failed, so this is not your score; please tell the "
                           f"course staff. ({type(exc).__name__}: {str(exc)[:500]})", start, failed=True)
    from coursekit.safefs import write_atomic

    write_atomic(results, json.dumps(data, indent=1))
    return data


def grade_upload(assignment: Assignment, source_course: Course, upload: Path, work: Path, *,
                 allow_unsandboxed: bool = False) -> dict:
    """Lay the upload out as ``submitted/<student>/<assignment>`` of a course in ``work`` and grade it
    as `course autograde` does; returns Gradescope's results.json."""
    from coursekit.autograde.grader import Grader, GraderConfig
    from coursekit.timestamps import TIMESTAMP, format_timestamp
    from coursekit.runtime.handin.bundle import ZipRefused, extract, inspect_zip
    from coursekit.runtime.handin.spec import spec_of

    course = Course(work / "course", repo=source_course.repo)
    shutil.copytree(source_course.folder("release", assignment.name), course.folder("release", assignment.name))
    spec = spec_of(assignment)
    zipped = _upload_zip(upload, work / "upload", spec.zip_name)
    check = inspect_zip(zipped, spec)
    if check.refusal:
        raise Refused(check.refusal)
    dest = course.folder("submitted", assignment.name, STUDENT)
    dest.mkdir(parents=True)
    try:
        extract(zipped, check, dest)
    except ZipRefused as exc:
        raise Refused(str(exc)) from None
    import datetime as dt

    (dest / TIMESTAMP).write_text(format_timestamp(dt.datetime.now(dt.timezone.utc)), encoding="utf-8")
    config = GraderConfig.for_assignment(assignment, require_sandbox=not allow_unsandboxed)
    # Student code gets what the container has left beside the grader, so that a hog is its own
    # item's failure rather than the container's out-of-memory kill of the grader.
    if config.limits.memory_bytes > SANDBOX_MB << 20:
        config = dataclasses.replace(config, limits=dataclasses.replace(config.limits,
                                                                        memory_bytes=SANDBOX_MB << 20))
    result = Grader(assignment, course, config).grade(STUDENT)
    if check.missing:
        result.notes.append(f"Your upload is missing {', '.join(check.missing)}.")
    return gradescope_results(result, assignment)


def gradescope_results(result, assignment: Assignment) -> dict:
    """`course autograde`'s results.json, as Gradescope shows it: each test visible, written items at 0."""
    from coursekit.feedback import results_json

    data = results_json(result, assignment)
    written = {item.grade_id for item in assignment.manual_items}
    for test in data["tests"]:
        test["visibility"] = "visible"
        if test["name"] in written:
            test["score"] = 0
            test.pop("status", None)
            test["output"] = f"{test.get('output', '')}\n{HAND_GRADED}".strip()
    if not result.sandboxed:
        data["output"] = "\n".join(filter(None, [data["output"], "Graded without the sandbox (resource limits only)."]))
    data["visibility"] = "visible"
    data["stdout_visibility"] = "hidden"  # the grader's log is the staff's
    return data


def _not_graded(assignment: Assignment | None, why: str, start: float, failed: bool = False) -> dict:
    tests = []
    for item in assignment.items if assignment else ():
        tests.append({"name": item.grade_id, "score": 0, "max_score": item.points, "visibility": "visible",
                      "output": HAND_GRADED if item.manual else "not graded (see the output above)"})
    return {"score": 0, "execution_time": round(time.monotonic() - start, 2), "output": why, "tests": tests,
            "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"grader_failed": failed, "refused": not failed}}


def _upload_zip(upload: Path, scratch: Path, zip_name: str) -> Path:
    """The hand-in zip: the upload itself if it is one zip, else a zip of the upload's regular files
    (links, devices and FIFOs are left out; ``course collect``'s inspection then decides)."""
    if not upload.is_dir():
        raise Refused("nothing was uploaded")
    entries = [p for p in upload.iterdir() if not p.name.startswith(".")]
    zips = [p for p in entries if p.suffix.lower() == ".zip" and p.is_file() and not p.is_symlink()]
    if len(zips) == 1 and not [p for p in entries if p.suffix.lower() in (".ipynb", ".py") or p.is_dir()]:
        return zips[0]
    if len(zips) > 1:
        raise Refused(f"upload one hand-in zip ({zip_name}), not {len(zips)}")
    from coursekit.runtime.handin.bundle import MAX_MEMBER_BYTES, MAX_MEMBERS, MAX_TOTAL_BYTES

    scratch.mkdir(parents=True, exist_ok=True)
    out, total, count = scratch / zip_name, 0, 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, dirs, files in os.walk(upload, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in GENERATED and not (Path(folder) / d).is_symlink())
            for name in sorted(files):
                path = Path(folder) / name
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MEMBER_BYTES:
                    continue
                total, count = total + info.st_size, count + 1
                if total > MAX_TOTAL_BYTES or count > MAX_MEMBERS:
                    raise Refused(f"the upload holds more than {MAX_MEMBERS} files or "
                                  f"{MAX_TOTAL_BYTES >> 20} MB")
                rel = path.relative_to(upload).as_posix()
                if not is_utf8(rel):  # a zip cannot name it; the student's to fix, not the grader's failure
                    raise Refused(f"{printable(rel)}: its name is not UTF-8 text; rename it")
                zf.write(path, rel)
    return out


class _Timeout(BaseException):
    """Not an Exception: the handlers that keep one bad input from stopping the grading (a
    timestamp that cannot be read, a notebook that cannot be checked) must not swallow the deadline."""


class _deadline:
    """Raise in the grading process after ``seconds``, so a results.json is written before Gradescope's
    own limit ends the run (the sandbox's own limits end the student's code)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def _fire(self, *_):
        raise _Timeout(f"grading took longer than {self.seconds:g} seconds")

    def __enter__(self):
        if self.seconds and hasattr(signal, "SIGALRM"):
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.seconds and hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.gradescope",
                                     description="Grade one Gradescope submission (run_autograder calls this).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    p.add_argument("--root", type=Path, default=Path(os.environ.get("COURSEKIT_GRADESCOPE_ROOT", "/autograder")))
    p.add_argument("--source", type=Path, default=None, help="the unzipped autograder.zip (default: ROOT/source)")
    p.add_argument("--deadline", type=float, default=DEADLINE_SECONDS,
                   help=f"seconds before grading gives up and says so (default: {DEADLINE_SECONDS})")
    args = parser.parse_args(argv)
    data = run(args.root, args.source or args.root / "source", deadline=args.deadline)
    print(f"score {data['score']:g}: {printable(data['output'], 300)}")  # the log: no student escapes
    return 0


if __name__ == "__main__":
    sys.exit(main())
