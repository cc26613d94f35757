"""An assignment's facts, read from its declaration in the course directory.

Each assignment is course content: ``source/<name>/assignment.toml`` says
which notebooks test it, which library files (and which of their classes)
students write, the graded items with their points, the module of checks,
the fixture, and what student code may import.  Every stage of the pipeline
reads it through :func:`load_assignment`; nothing in the kit names an
assignment, an item or a point total.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from collections.abc import Iterable

REPO = Path(__file__).resolve().parent.parent
DECLARATION = "assignment.toml"
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
GRADE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")

# What every release ships of the kit: the runtime folder, whole (the tester helpers, the
# hand-in command, `python -m coursekit.runtime.pytorch`); the assignment's checks module joins it.
RUNTIME = Path(__file__).resolve().parent / "runtime"


def runtime_files() -> tuple[str, ...]:
    """The runtime's modules, relative to the folder that holds ``coursekit/``."""
    top = RUNTIME.parent.parent
    return tuple(sorted(p.relative_to(top).as_posix() for p in RUNTIME.rglob("*.py")
                        if "__pycache__" not in p.parts and p.relative_to(top).as_posix() != SHIPPED_CHECKS))


# Where the assignment's checks module lives in a release and in the grading sandbox.
SHIPPED_CHECKS = "coursekit/runtime/checks/assignment.py"


class DeclarationError(ValueError):
    """An assignment declaration that is missing or wrong; the message names the file (and line)."""


@dataclass(frozen=True)
class Item:
    grade_id: str
    points: int
    notebook: str
    # The student files whose code this item runs: a file that breaks the
    # rules costs exactly these items, and a broken file costs no others.
    files: tuple[str, ...] = ()
    # The grade id of a notebook solution cell whose code this item runs instead.
    cell: str = ""
    # Graded by hand (a written answer): no check, nbgrader's manual grading.
    manual: bool = False


@dataclass(frozen=True)
class Assignment:
    name: str
    notebooks: tuple[str, ...]
    items: tuple[Item, ...]
    # Library files students hand in, and the top-level classes and functions
    # of each that this assignment has reached (relative to the course).
    student_files: tuple[str, ...]
    # Library files students receive but may not change (restored at grading).
    library_files: tuple[str, ...]
    checks: str = ""  # the checks module, relative to the course
    fixture: str = ""  # the fixture file, relative to the course ("" if none)
    samples: str = ""  # a module of typical mistakes (BUGS) for the demo's "buggy" student
    # Course files shipped next to the notebooks: (path in the release, path in the course).
    ship: tuple[tuple[str, str], ...] = ()
    title: str = ""
    package: str = "mytorch"
    student_names: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Modules student code may import beyond the kit's harmless standard library,
    # and the installed packages among them the grading sandbox must show.
    allowed_modules: tuple[str, ...] = ("numpy",)
    item_seconds: float | None = None
    memory_mb: int | None = None
    declared_total: int | None = None
    source: Path = field(default=Path(), compare=False)  # the declaration file

    @property
    def total_points(self) -> int:
        return sum(item.points for item in self.items)

    @property
    def auto_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.manual)

    @property
    def manual_items(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.manual)

    @property
    def auto_points(self) -> int:
        return sum(i.points for i in self.auto_items)

    @property
    def fixtures(self) -> tuple[str, ...]:
        return (self.fixture,) if self.fixture else ()

    @property
    def shipped_modules(self) -> tuple[str, ...]:
        return runtime_files()

    def names_in(self, rel: str) -> tuple[str, ...] | None:
        """The top-level classes and functions of a student file that this assignment has reached
        (None: the whole file)."""
        return dict(self.student_names).get(rel) or None

    def item(self, grade_id: str) -> Item:
        for item in self.items:
            if item.grade_id == grade_id:
                return item
        raise KeyError(f"{self.name} has no graded item {grade_id!r}")

    def items_of(self, notebook: str) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.notebook == notebook)


def declaration_path(course_dir: Path, name: str) -> Path:
    return Path(course_dir) / "source" / name / DECLARATION


def declared_names(course_dir: Path) -> list[str]:
    """Every assignment with a declaration in the course directory, names sorted naturally."""
    source = Path(course_dir) / "source"
    names = [p.parent.name for p in source.glob(f"*/{DECLARATION}")] if source.is_dir() else []
    return sorted(names, key=natural_key)


def assignment_names(course_dir: Path) -> list[str]:
    """Every assignment declared in the course directory, in course order: as ``course.toml``
    lists them, those it does not list after them; without the file, names sorted with their
    numbers compared as numbers (a1 < a2 < a10)."""
    return ordered(declared_names(course_dir), course_order_listed(course_dir))


def ordered(names: Iterable[str], listed: list[str] | None) -> list[str]:
    """``names`` in the listed order, the unlisted after them in natural order (all of them so
    without a list)."""
    names = set(names)
    first = [n for n in listed or () if n in names]
    return first + sorted(names - set(first), key=natural_key)


def natural_key(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


# --- the course file: the assignments in teaching order ----------------------------------


COURSE_FILE = "course.toml"
_ORDER_KEY = re.compile(r"^(\s*assignments\s*=\s*)\[[^\]]*\]", re.MULTILINE)


def course_file(course_dir: Path) -> Path:
    return Path(course_dir) / COURSE_FILE


def course_order_listed(course_dir: Path) -> list[str] | None:
    """``[course] assignments`` of ``course.toml``, the teaching order (None without the file).

    What "earlier" and "later" mean to the library's FROM/UNTIL regions and the leak scan comes
    from this list, never from the names.  DeclarationError for a file that is not such a list."""
    path = course_file(course_dir)
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{path}: not valid TOML ({exc})") from None
    course = data.get("course", {})
    listed = course.get("assignments") if isinstance(course, dict) else None
    if not isinstance(listed, list) or not all(isinstance(n, str) and NAME.match(n) for n in listed):
        raise DeclarationError(f"{path}{_line(text, 'assignments')}: [course] assignments must list the "
                               'assignments in teaching order: assignments = ["a1", "a2"]')
    twice = sorted({n for n in listed if listed.count(n) > 1})
    if twice:
        raise DeclarationError(f"{path}{_line(text, twice[0])}: [course] assignments lists {twice[0]!r} twice")
    return list(listed)


def course_toml(names: Iterable[str]) -> str:
    """A new ``course.toml`` listing ``names`` in teaching order."""
    listed = ", ".join(f'"{n}"' for n in names)
    return f"""\
# The course: what the kit needs to know beyond each assignment's own declaration.

[course]
# The assignments in teaching order.  A release shows nothing of a later assignment (its
# FROM regions, the files and classes it adds); `course new` adds an assignment at the end,
# or where --after/--before say.
assignments = [{listed}]
"""


def with_order(text: str, names: Iterable[str]) -> str:
    """``course.toml``'s text with its assignments list replaced (everything else kept)."""
    listed = "[" + ", ".join(f'"{n}"' for n in names) + "]"
    replaced, count = _ORDER_KEY.subn(lambda m: m.group(1) + listed, text, count=1)
    if count == 0:
        raise DeclarationError(f"{COURSE_FILE}: no [course] assignments list to add to")
    return replaced


def load_assignment(course_dir: Path, name: str) -> Assignment:
    """Read and check ``source/<name>/assignment.toml``; DeclarationError says what is wrong and where."""
    course_dir = Path(course_dir)
    path = declaration_path(course_dir, name)
    if not NAME.match(name):
        raise DeclarationError(f"{name!r} is not an assignment name (letters, digits, - and _)")
    if not path.is_file():
        known = assignment_names(course_dir)
        hint = f"; this course has {', '.join(known)}" if known else \
            f"; `course new {name}` starts one" if course_dir.is_dir() else ""
        where = "no course directory" if not course_dir.is_dir() else "no declaration"
        raise DeclarationError(f"{path}: {where} for assignment {name!r}{hint}")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{path}: not valid TOML ({exc})") from None
    return _parse(name, data, path, text)


def _parse(name: str, data: dict[str, Any], path: Path, text: str) -> Assignment:
    def fail(key: str, why: str, needle: str = "") -> DeclarationError:
        return DeclarationError(f"{path}{_line(text, needle or key)}: {key}: {why}")

    def strings(value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(key, "must be a list of non-empty strings")
        return tuple(value)

    def relpath(value: str, key: str) -> str:
        p = PurePosixPath(value)
        if p.is_absolute() or ".." in p.parts or not value:
            raise fail(key, f"{value!r} must be a path inside the course directory", value)
        return value

    known = ("title", "notebooks", "checks", "fixture", "samples", "total_points", "library", "policy", "limits",
             "ship", "items", "written")
    unknown = set(data) - set(known)
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown key (known: {', '.join(known)})")
    notebooks = strings(data.get("notebooks"), "notebooks")
    library = data.get("library", {})
    if not isinstance(library, dict):
        raise fail("library", "must be a table")
    package = library.get("package", "mytorch")
    if not isinstance(package, str) or not package.isidentifier():
        raise fail("library.package", "must be a Python package name", "package")
    student = library.get("student", {})
    if not isinstance(student, dict):
        raise fail("library.student", "must be a table of file = [names]", "[library.student]")
    names = []
    for rel, defined in student.items():
        relpath(rel, "library.student")
        if not rel.endswith(".py") or PurePosixPath(rel).parts[0] != package:
            raise fail("library.student", f"{rel!r} must be a .py file inside {package}/", rel)
        names.append((rel, strings(defined, f"library.student.{rel!r}")))
    given = library.get("given", {})
    given_files = strings(given.get("files", []), "library.given.files") if isinstance(given, dict) else ()
    policy = data.get("policy", {})
    modules = strings(policy.get("modules", ["numpy"]), "policy.modules") if isinstance(policy, dict) else ()
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise fail("limits", "must be a table")
    item_seconds, memory_mb = limits.get("item_seconds"), limits.get("memory_mb")
    for key, value in (("limits.item_seconds", item_seconds), ("limits.memory_mb", memory_mb)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise fail(key, "must be a positive number", key.split(".")[1])
    items = []
    for kind, manual in (("items", False), ("written", True)):
        table = data.get(kind, [])
        if not isinstance(table, list):
            raise fail(kind, f"must be an array of tables ([[{kind}]])")
        for k, entry in enumerate(table):
            items.append(_item(entry, f"{kind}[{k}]", manual, notebooks, dict(names), fail))
    seen = set()
    for item in items:
        if item.grade_id in seen:
            raise fail("items", f"grade id {item.grade_id!r} is declared twice", f'"{item.grade_id}"')
        seen.add(item.grade_id)
    total = data.get("total_points")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        raise fail("total_points", "must be a whole number")
    checks = data.get("checks", "")
    if not isinstance(checks, str) or (checks and not checks.endswith(".py")):
        raise fail("checks", "must be the path of a .py module")
    fixture, samples = data.get("fixture", ""), data.get("samples", "")
    for key, value in (("fixture", fixture), ("samples", samples)):
        if not isinstance(value, str):
            raise fail(key, "must be a path")
    ship = data.get("ship", {})
    if isinstance(ship, list) and all(isinstance(v, str) for v in ship):
        ship = {rel: rel for rel in ship}  # a list: each course file ships at its own path
    if not isinstance(ship, dict) or not all(isinstance(v, str) for v in ship.values()):
        raise fail("ship", "must be a list of course files, or a table of released path = course file", "ship")
    shipped = tuple((relpath(dest, "ship"), relpath(src, "ship")) for dest, src in ship.items())
    title = data.get("title", name)
    if not isinstance(title, str):
        raise fail("title", "must be a string")
    return Assignment(
        name=name, notebooks=notebooks, items=tuple(items), student_files=tuple(rel for rel, _ in names),
        library_files=tuple(relpath(f, "library.given.files") for f in given_files),
        checks=relpath(checks, "checks") if checks else "", fixture=relpath(fixture, "fixture") if fixture else "",
        samples=relpath(samples, "samples") if samples else "", ship=shipped,
        title=title, package=package, student_names=tuple(names), allowed_modules=modules,
        item_seconds=item_seconds, memory_mb=memory_mb, declared_total=total, source=path)


def _item(entry: Any, key: str, manual: bool, notebooks: tuple[str, ...], student: dict, fail) -> Item:
    if not isinstance(entry, dict):
        raise fail(key, "must be a table")
    grade_id = entry.get("grade_id")
    if not isinstance(grade_id, str) or not GRADE_ID.match(grade_id):
        raise fail(key, "needs a grade_id (letters, digits, _ and -)")
    here = f"{key} ({grade_id})"
    allowed = {"grade_id", "points", "notebook"} | (set() if manual else {"files", "cell"})
    if set(entry) - allowed:
        raise fail(here, f"unknown key {sorted(set(entry) - allowed)[0]!r} (known: {', '.join(sorted(allowed))})",
                   f'"{grade_id}"')
    points = entry.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise fail(here, "points must be a positive whole number", f'"{grade_id}"')
    notebook = entry.get("notebook")
    if notebook not in notebooks:
        raise fail(here, f"notebook {notebook!r} is not one of the assignment's notebooks", f'"{grade_id}"')
    files = tuple(entry.get("files", ()))
    for rel in files:
        if rel not in student:
            raise fail(here, f"file {rel!r} is not one of the student files ([library.student])", f'"{grade_id}"')
    cell = entry.get("cell", "")
    if not isinstance(cell, str):
        raise fail(here, "cell must be the grade id of a solution cell", f'"{grade_id}"')
    if not manual and not files and not cell:
        raise fail(here, "says neither which student files (files = [...]) nor which notebook cell (cell = ...) "
                         "it runs", f'"{grade_id}"')
    if files and cell:
        raise fail(here, "runs either student files or a notebook cell, not both", f'"{grade_id}"')
    return Item(grade_id, points, notebook, files, cell, manual)


def _line(text: str, needle: str) -> str:
    """", line N" of the first line that mentions ``needle``, to point the instructor at it."""
    if needle:
        for n, line in enumerate(text.splitlines(), 1):
            if needle in line:
                return f", line {n}"
    return ""
