"""Where a course lives on disk, and running nbgrader on it.

The repo holds the single sources (reference ``mytorch/``, fixtures, the
kit).  A course root holds nbgrader's folders — ``source/``, ``release/``,
``submitted/``, ``autograded/``, ``feedback/`` — and its gradebook.  For the
real course the two are the same folder; the demo uses a separate root so
that sample students never enter a real gradebook.

nbgrader's own settings (``nbgrader_config.py``'s ``CourseDirectory``) say the
rest, and the kit reads them as nbgrader does: the folder names of the stages
after ``source`` and the gradebook's ``db_url`` are honoured; the settings the
kit cannot honour (another ``source_directory`` or ``directory_structure``)
are refused with one line naming them (:meth:`Course.check_settings`).
"""
from __future__ import annotations

import builtins
import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.assignment import (COURSE_FILE, Assignment, DeclarationError, assignment_names, course_order_listed,
                                  load_assignment)


class CourseError(Exception):
    """A problem the instructor can fix; the CLI prints it as one line."""


CONFIG = "nbgrader_config.py"
# nbgrader's CourseDirectory trait for each stage folder the kit writes or reads.
STAGE_SETTINGS = {"release": "release_directory", "submitted": "submitted_directory",
                  "autograded": "autograded_directory", "feedback": "feedback_directory"}
# Settings the kit depends on but cannot follow: declarations live in source/<a>/, and every stage
# folder is <stage>/<student>/<assignment>.  Their nbgrader defaults are the only values it accepts.
FIXED_SETTINGS = {"source_directory": "source", "directory_structure": "{nbgrader_step}/{student_id}/{assignment_id}"}


def nbgrader_settings(folder: Path) -> dict[str, object]:
    """``CourseDirectory`` as ``folder/nbgrader_config.py`` sets it ({} without the file).

    The file runs as nbgrader runs it, except that its formgrader hook (``coursekit.formgrader``)
    is a no-op here: reading settings must not patch nbgrader in this process, nor import its server."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        return {}
    from traitlets.config import Config

    config = Config()

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "coursekit.formgrader":
            return _NO_FORMGRADER
        return builtins.__import__(name, globals, locals, fromlist, level)

    namespace = {"__file__": str(path), "__name__": "nbgrader_config", "get_config": lambda: config,
                 "__builtins__": {**vars(builtins), "__import__": _import}}
    try:
        exec(compile(path.read_bytes(), str(path), "exec"), namespace)
    except Exception as exc:  # the instructor's file: whatever it raises is reported, as one line
        raise CourseError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    return dict(config["CourseDirectory"]) if "CourseDirectory" in config else {}


def _anchored(db_url: str, folder: Path) -> str:
    """A relative SQLite path made absolute against ``folder``: nbgrader, which the kit runs there,
    finds the file there, and so must every process of the kit, whatever its working directory."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url != prefix + ":memory:" and not Path(db_url[len(prefix):]).is_absolute():
        return prefix + str(folder / db_url[len(prefix):])
    return db_url


class _NoFormgrader:
    @staticmethod
    def install(c) -> None:
        pass


_NO_FORMGRADER = _NoFormgrader()


@dataclass(frozen=True)
class Course:
    root: Path
    repo: Path | None = None  # where the sources live; the root itself unless given
    db_url: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())
        object.__setattr__(self, "repo", Path(self.repo).resolve() if self.repo is not None else self.root)
        if not self.db_url:
            # nbgrader's gradebook where the course's settings put it, else nbgrader's default place.
            configured = self.settings.get("db_url") if self.repo == self.root else None
            db_url = configured if isinstance(configured, str) and configured else \
                f"sqlite:///{self.root / 'gradebook.db'}"
            object.__setattr__(self, "db_url", _anchored(db_url, self.repo))

    @functools.cached_property
    def settings(self) -> dict[str, object]:
        """nbgrader's CourseDirectory settings of this course (read from the repo's nbgrader_config.py,
        which is the file nbgrader reads when the kit runs it)."""
        return nbgrader_settings(self.repo)

    def check_settings(self) -> None:
        """CourseError naming every CourseDirectory setting the kit cannot honour."""
        wrong = [f"{name} = {self.settings[name]!r}" for name, default in FIXED_SETTINGS.items()
                 if name in self.settings and self.settings[name] != default]
        if wrong:
            raise CourseError(f"{self.repo / CONFIG}: the kit cannot honour CourseDirectory." + ", ".join(wrong)
                              + "; remove the setting (the kit needs nbgrader's default there)")

    def stage(self, stage: str) -> Path:
        """The folder of a stage (release, submitted, autograded, feedback; source), as the settings name it."""
        name = self.settings.get(STAGE_SETTINGS[stage], stage) if stage in STAGE_SETTINGS else stage
        return self.root / str(name)

    def assignment(self, name: str) -> Assignment:
        """The assignment declared in ``source/<name>/assignment.toml``; CourseError if it is not."""
        try:
            return load_assignment(self.repo, name)
        except DeclarationError as exc:
            raise CourseError(str(exc)) from None

    def assignments(self) -> list[str]:
        """The assignments the course declares, in its order (course.toml's)."""
        try:
            return assignment_names(self.repo)
        except DeclarationError as exc:
            raise CourseError(str(exc)) from None

    def order_note(self) -> str:
        """A line for a course that does not declare its order ("" for one that does, or has one
        assignment): the order then comes from the names, and may not be the teaching order."""
        try:
            listed = course_order_listed(self.repo)
        except DeclarationError as exc:
            raise CourseError(str(exc)) from None
        names = assignment_names(self.repo)
        if listed is not None or len(names) < 2:
            return ""
        quoted = ", ".join(f'"{n}"' for n in names)
        return (f"note: {self.repo / COURSE_FILE} is missing, so the assignments are in name order "
                f"({', '.join(names)}); write it with [course] assignments = [{quoted}] in teaching order")

    def source_file(self, rel: str) -> Path:
        """A file of the course's sources (reference library, checks, fixtures), by its declared path."""
        return self.repo / rel

    def folder(self, stage: str, assignment: str, student: str | None = None) -> Path:
        """source/<a>, release/<a>, or <stage>/<student>/<a>."""
        if student is None:
            return self.stage(stage) / assignment
        return self.stage(stage) / student / assignment

    @classmethod
    def copy_of(cls, source: Path, root: Path, db_url: str = "") -> Course:
        """A new course directory at ``root`` holding ``source``'s sources, none of its generated
        folders or gradebook: its declarations, checks and notebooks, the library packages, the
        fixtures, the shipped course files, nbgrader_config.py (the demo and the tests grade there)."""
        source, root = Path(source).resolve(), Path(root)
        root.mkdir(parents=True, exist_ok=True)
        tops, assembled = {"source", "data"}, {"coursekit", "data"}
        for name in assignment_names(source):
            assignment = load_assignment(source, name)
            tops |= {Path(rel).parts[0] for rel in assignment.student_files + assignment.library_files}
            tops |= {Path(src).parts[0] for _, src in assignment.ship}
            assembled |= {Path(rel).parts[0] for rel in assignment.student_files + assignment.library_files}
        generated = {"__pycache__", ".ipynb_checkpoints"}

        def skip(folder: str, names: list[str]) -> set[str]:
            # What `course release` assembles into source/<name>/ is generated, like caches.
            here = Path(folder)
            copied = here.parent.name == "source" and here.parent.parent == source
            return {n for n in names if n in generated or n.endswith(".pyc") or (copied and n in assembled)}

        for top in sorted(tops):
            if (source / top).is_dir():
                shutil.copytree(source / top, root / top, ignore=skip, dirs_exist_ok=True)
        for name in ("nbgrader_config.py", COURSE_FILE):  # the course's settings, its order among them
            if (source / name).is_file():
                shutil.copyfile(source / name, root / name)
        return cls(root, db_url=db_url)

    def students(self, assignment: str) -> list[str]:
        """Students with a folder for this assignment in submitted/."""
        base = self.stage("submitted")
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())

    def nbgrader(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run an nbgrader app with the repo's nbgrader_config.py on this course root."""
        cmd = [sys.executable, "-m", "nbgrader", *args,
               f"--CourseDirectory.root={self.root}", f"--CourseDirectory.db_url={self.db_url}"]
        # No PYTHONPATH to the repo: a kernel that could import the reference
        # mytorch would grade a submission without one as full marks.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        # nbgrader shells out to `alembic`, found next to this python even when
        # its environment is not activated.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        proc = subprocess.run(cmd, cwd=self.repo, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = [line for line in (proc.stdout + proc.stderr).strip().splitlines()
                    if "ERROR" in line or "Error" in line][-3:]
            raise CourseError(f"nbgrader {args[0]} failed (exit {proc.returncode}): " + " | ".join(tail))
        return proc
