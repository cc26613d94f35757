"""What decides a grade besides the hand-in: one definition, for the skip and for the cluster.

``course autograde`` keeps a previous result only if nothing the grader uses
has changed since: the hand-in (``submission.fingerprint``: every byte the
grader reads of it) and the grader's own inputs, digested here once per run:

* the kit's code that grading runs: every kit module the grader, its worker
  and the sandboxed harness import, followed through their imports;
* the course files the Grader reads: the declaration, the checks module, the
  fixture, the source notebooks (the hidden cases are read from them), the
  reference library files the stubs are made from, and of the release the
  names of its files (extra files are reported against them) and its notebooks
  (the graded cells and blank answers the hand-in is compared with);
* the interpreter and the versions of the packages student code runs with
  (numpy and the declared ``[policy] modules``).

That much is :func:`grader_digest`, which a Dask worker recomputes from its
own copy and compares with the run's.  :func:`run_digest` adds what only the
process that starts the run uses, and what the skip must also see: the
versions of every package the checks module and the kit's grading code
import (PyTorch, with which the references are computed) and the grader's
configuration (limits, sandbox).
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Iterable

from coursekit.assignment import Assignment

if TYPE_CHECKING:
    from coursekit.autograde.grader import GraderConfig
    from coursekit.course import Course

KIT = Path(__file__).resolve().parent.parent  # the coursekit package
# Where grading starts: the worker (which imports the grader) and the harness the sandbox runs.
ENTRY_MODULES = ("coursekit.autograde.worker", "coursekit.autograde.child")


def kit_sources(entries: Iterable[str] = ENTRY_MODULES) -> list[Path]:
    """The kit's files that grading imports: ``entries`` and every kit module they import, at any
    depth (imports inside functions too), with the packages' ``__init__`` files.  Read statically,
    so every process computes the same list whatever it has imported itself."""
    seen: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]  # the packages it lives in
        todo += _kit_imports(path, name)
    return sorted(set(seen.values()))


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != KIT.name:
        return None
    base = KIT.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _kit_imports(path: Path, name: str) -> list[str]:
    """The kit modules ``path`` imports (``from pkg import mod`` may name a module, so both)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for level, base, names in _imports(path):
        if level:  # relative: from the package this module is in
            up = package.split(".")[:len(package.split(".")) - level + 1]
            base = ".".join([*up, *([base] if base else [])])
        found += [base, *(f"{base}.{n}" for n in names)]
    return [m for m in found if m.split(".")[0] == KIT.name]


def _imports(path: Path) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """(level, module, names) of every import statement in a Python file, parsed once per version."""
    st = path.stat()
    return _parse_imports(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=512)
def _parse_imports(path: str, mtime_ns: int, size: int) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    found = []
    for node in ast.walk(ast.parse(Path(path).read_bytes(), path)):
        if isinstance(node, ast.Import):
            found += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or "", tuple(alias.name for alias in node.names)))
    return tuple(found)


def course_files(assignment: Assignment, course: Course) -> list[tuple[str, Path]]:
    """(label, path) of every course file whose bytes the Grader reads."""
    source = course.repo / "source" / assignment.name
    release = course.folder("release", assignment.name)
    files = [("declaration", assignment.source), ("checks", course.source_file(assignment.checks)),
             ("fixture", course.source_file(assignment.fixture)),
             *((f"source {nb}", source / f"{nb}.ipynb") for nb in assignment.notebooks),
             *((f"reference {rel}", course.source_file(rel)) for rel in assignment.student_files),
             *((f"release {nb}", release / f"{nb}.ipynb") for nb in assignment.notebooks)]
    return files


def released_names(assignment: Assignment, course: Course) -> list[str]:
    """The release's files, as the Grader lists them (a hand-in's other files are reported as extra)."""
    release = course.folder("release", assignment.name)
    if not release.is_dir():
        return []
    return sorted(str(p.relative_to(release)) for p in release.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def packages(names: Iterable[str]) -> list[str]:
    """``distribution==version`` of the installed distributions that provide these top-level
    modules (one that no distribution provides: ``name==?``)."""
    found = set()
    for name in names:
        try:
            found.add(f"{name}=={importlib.metadata.version(name)}")  # most distributions are named so
            continue
        except importlib.metadata.PackageNotFoundError:
            pass
        for dist in _owners().get(name, []) or [None]:
            try:
                found.add(f"{dist}=={importlib.metadata.version(dist)}" if dist else f"{name}==?")
            except importlib.metadata.PackageNotFoundError:
                found.add(f"{dist}==?")
    return sorted(found)


@functools.lru_cache(maxsize=1)
def _owners() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # reads every installed RECORD: once


def third_party_modules(sources: Iterable[Path]) -> list[str]:
    """The top-level modules these Python files import anywhere (a reference imports PyTorch inside
    a function), other than the kit's and the standard library's."""
    names = set()
    for path in sources:
        try:
            names |= {module.split(".")[0] for level, module, _ in _imports(path) if module and not level}
        except (OSError, SyntaxError, ValueError):
            continue
    return sorted(n for n in names if n not in sys.stdlib_module_names and n != KIT.name)


def grader_digest(assignment: Assignment, course: Course) -> str:
    """Changes with anything, besides the hand-in and the run's options, that decides a grade on
    the machine that runs the student's code and judges it (see the module's docstring)."""
    from coursekit.autograde.grader import harness_modules

    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(b"%d\0" % len(label.encode()) + label.encode() + b"%d\0" % len(data) + data)

    for path in kit_sources():
        add(f"kit {path.relative_to(KIT).as_posix()}", path.read_bytes())
    for label, path in course_files(assignment, course):
        add(label, path.read_bytes() if path.is_file() else b"\0missing")
    add("released files", "\0".join(released_names(assignment, course)).encode())
    add("python", f"{sys.version}\0{sys.implementation.cache_tag}".encode())
    add("harness packages", "\0".join(packages(harness_modules(assignment.allowed_modules,
                                                                assignment.package))).encode())
    return h.hexdigest()


def run_digest(assignment: Assignment, course: Course, config: GraderConfig) -> str:
    """:func:`grader_digest`, with what only the run's own process uses: the packages the
    references are computed with, and the grader's configuration.  Computed once per run, before
    the grader reads anything (a course file changed meanwhile then shows at the next run)."""
    from coursekit.autograde import sandbox

    h = hashlib.sha256(grader_digest(assignment, course).encode())
    used = third_party_modules([course.source_file(assignment.checks), *kit_sources()])
    h.update(b"\0packages\0" + "\0".join(packages(used)).encode())
    backend = sandbox.backend_for(config.backend, use_sandbox=config.use_sandbox)  # the one used, if none is named
    h.update(b"\0config\0" + f"{config!r}\0sandbox={backend.name}".encode())
    return h.hexdigest()
