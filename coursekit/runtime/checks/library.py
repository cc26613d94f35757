"""The student's library as the grader runs it, for the grader and for the student's own checks.

A file that breaks the rules (does not parse, imports what the policy does
not allow) is not run: the items whose code is in it score 0 and no others.
Every other file is used; the package around them is rebuilt with ``from
<module> import *`` ``__init__`` files, so a renamed or missing class costs
only the items that use it.  If the whole library still does not import,
each item is tried with only its own files, stubs (as released) standing in
for the rest.

The grader writes these packages into its sandbox; the tester notebooks and
``handin.py`` import them in the student's own Python (:func:`imported`), so
a broken file costs in the notebooks exactly what it costs at grading.
Standard library only (shipped to students).
"""
from __future__ import annotations

import contextlib
import importlib
import shutil
import sys
import tempfile
import types
from pathlib import Path
from collections.abc import Collection, Iterable, Iterator, Mapping

from coursekit.runtime.checks.policy import check_source

# A library file is a few KB; a huge one is an attack on the grader.
MAX_LIBRARY_FILE = 1 << 20
CELL_MODULE = "notebook_cell"  # the name a notebook cell's code runs under outside its kernel


def source_problems(text: str, where: str, modules: Iterable[str], package: str) -> list[str]:
    """Why code cannot be run at grading ([] if it can): syntax errors and breaches of the policy,
    each naming ``where`` (a file, or a notebook cell) and the line."""
    # The parser gives up on some pathological sources with RecursionError or
    # MemoryError rather than a SyntaxError: that costs this code, nothing more.
    try:
        return [str(v) for v in check_source(text, where, tuple(modules), package)]
    except Exception as exc:  # noqa: BLE001 - code the rules cannot be checked on is not run
        return [f"{where}: could not be checked against the rules ({type(exc).__name__}: "
                f"{str(exc)[:200] or 'nested too deeply?'}); simplify the code"]


def package_sources(student_files: Iterable[str], texts: Mapping[str, str], stubs: Mapping[str, str],
                    use: Collection[str]) -> dict[str, str]:
    """Relative path -> text of the package to run: the student's text for the files in ``use``,
    the stub elsewhere, and ``__init__`` files that star-import every module."""
    sources: dict[str, str] = {}
    modules: dict[str, set[str]] = {}  # package -> its student modules
    children: dict[str, set[str]] = {}  # package -> its subpackages that hold some
    for rel in student_files:
        sources[rel] = texts[rel] if rel in use else stubs[rel]
        parts = rel[:-3].split("/")
        modules.setdefault(".".join(parts[:-1]), set()).add(".".join(parts))
        for k in range(1, len(parts) - 1):
            children.setdefault(".".join(parts[:k]), set()).add(parts[k])
    for package in {*modules, *children}:
        lines = [f"from {m} import *" for m in sorted(modules.get(package, ()))]
        if package in children:
            lines.append(f"from {package} import {', '.join(sorted(children[package]))}")
        sources[package.replace(".", "/") + "/__init__.py"] = "\n".join(lines) + "\n"
    return sources


def file_sets(usable: Collection[str], item_files: Collection[str], whole_library: bool = True) -> list[frozenset[str]]:
    """The sets of student files to try an item with, in order: every usable file, then the item's own."""
    sets = [frozenset(usable), frozenset(item_files)] if whole_library else [frozenset(item_files)]
    return list(dict.fromkeys(sets))


def write_package(dest: Path, sources: Mapping[str, str]) -> None:
    for rel, text in sources.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text, encoding="utf-8")


def builds_on(items: Mapping[str, Collection[str]], grade_id: str) -> list[str]:
    """The items whose files are a strict part of this one's (a layer's, for a network made of
    such layers): when this item fails, those are the first suspects."""
    mine = set(items[grade_id])
    return [other for other, files in items.items()
            if other != grade_id and files and set(files) < mine]


def suspects_note(failing: Iterable[str]) -> str:
    """What a failed item's message adds when items it builds on fail too ("" if none do)."""
    failing = list(failing)
    return f"it builds on code that fails its own checks ({', '.join(failing)}): fix that first" if failing else ""


@contextlib.contextmanager
def imported(package: str, sources: Mapping[str, str]) -> Iterator[object]:
    """``package`` imported from ``sources`` in this process, then forgotten again.

    The files are written to a temporary folder that lives as long as the block
    (tracebacks can still quote their lines); any module of that name imported
    before is set aside and put back afterwards."""
    saved = {name: mod for name, mod in sys.modules.items() if name == package or name.startswith(package + ".")}
    for name in saved:
        del sys.modules[name]
    tmp = Path(tempfile.mkdtemp(prefix="coursekit-lib-"))
    dont_write = sys.dont_write_bytecode
    try:
        write_package(tmp, sources)
        sys.path.insert(0, str(tmp))
        sys.dont_write_bytecode = True
        importlib.invalidate_caches()
        yield importlib.import_module(package)
    finally:
        sys.dont_write_bytecode = dont_write
        with contextlib.suppress(ValueError):
            sys.path.remove(str(tmp))
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
        sys.modules.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


def run_cell(source: str, where: str) -> types.ModuleType:
    """A module made of one notebook cell's code, run as the kernel would run the cell (no
    future imports but its own), its tracebacks naming the cell (``where``)."""
    module = types.ModuleType(CELL_MODULE)
    sys.modules[CELL_MODULE] = module  # dataclasses and pickling look modules up by name
    exec(compile(source, where, "exec", dont_inherit=True), module.__dict__)
    return module


def shown_path(filename: str, package: str) -> str | None:
    """``mytorch/nn/loss.py`` for a file of the package (wherever it was written), else None."""
    marker = f"/{package}/"
    path = filename.replace("\\", "/")
    return package + "/" + path.split(marker, 1)[1] if marker in path else None
