"""What student code may import and call, checked on its source before it runs.

Students write numerical code: the modules their assignment declares
(``[policy] modules`` in its ``assignment.toml``; numpy unless it says
otherwise), their own library package and a few harmless standard-library
modules (the kit's list, below) are all it needs.  Anything else — torch,
the file system, the import machinery, the interpreter's internals — has no
honest use here and is how a submission would reach for the reference, the
hidden data, or a library that does the work for it.  The sandbox enforces
the same at run time (an undeclared package is not even visible there);
this check gives the clear reason.

A declared module allows itself and its submodules: ``"scipy"`` allows all of
scipy, ``"scipy.special"`` allows ``import scipy.special``, ``from scipy
import special`` and ``from scipy.special import erf``, and ``import scipy``
as long as the code then uses only ``scipy.special`` of it.  (The sandbox
works per installed package: it makes all of ``scipy`` visible either way;
the finer limit is this check's.)

These rules are stated to students from here (:func:`describe`, in the
released README) and applied by the tester notebooks, ``handin.py`` and the
grader alike.  They are the stated policy and its clear messages, not the
wall: code that hides a name in a string is stopped by the sandbox.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from collections.abc import Iterable

# The kit's harmless standard-library modules: pure computation on values the code
# already has.  Deliberately not here: anything that reaches files, processes, the
# network or other threads (os, io, pathlib, shutil, subprocess, socket, threading,
# multiprocessing, tempfile, glob, pickle, shelve, sqlite3, logging), the import
# machinery and the interpreter's internals (sys, importlib, builtins, inspect, gc,
# ctypes, types, traceback, code, runpy, pkgutil, site, atexit, signal, resource).
# ``random`` and ``time`` stay: they touch nothing but the process's own state, and
# the grader gives every case its own process and a wall-clock limit.
STDLIB_MODULES = frozenset({
    "__future__", "abc", "bisect", "cmath", "collections", "copy", "dataclasses", "decimal", "enum",
    "fractions", "functools", "heapq", "itertools", "math", "numbers", "operator", "random",
    "statistics", "string", "time", "typing", "warnings",
})
# What an assignment that declares no [policy] modules may import besides them.
DEFAULT_MODULES = ("numpy",)
# Calls that read files, run code from strings or reach the import machinery.
FORBIDDEN_CALLS = frozenset({
    "__import__", "eval", "exec", "compile", "open", "globals", "locals", "vars", "breakpoint", "input",
})
# Dunders that ordinary class code uses; any other is a way into the interpreter's internals.
ALLOWED_DUNDERS = frozenset({"__init__", "__call__", "__name__", "__class__", "__all__", "__repr__", "__str__"})
# numpy attributes that read files, load code or leave the sandboxed numeric world.
FORBIDDEN_NUMPY = frozenset({
    "load", "loadtxt", "genfromtxt", "fromfile", "fromregex", "memmap", "ctypeslib", "testing",
    "DataSource", "f2py", "distutils", "save", "savez", "savetxt", "tofile",
})


def describe(modules: Iterable[str] = DEFAULT_MODULES, package: str = "mytorch") -> str:
    """The rules in a student's words (Markdown), for the released README."""
    declared = ", ".join(f"`{m}`" for m in dict.fromkeys(modules)) or "nothing else"
    stdlib = ", ".join(f"`{m}`" for m in sorted(STDLIB_MODULES - {"__future__"}))
    calls = ", ".join(f"`{c}()`" for c in sorted(FORBIDDEN_CALLS))
    numpy = ", ".join(f"`numpy.{a}`" for a in sorted(FORBIDDEN_NUMPY, key=str.lower))
    return f"""Your library code (and the code of any notebook cell that is graded) may import:

- {declared};
- your own `{package}` package;
- these standard-library modules, which only compute: {stdlib}.

It may not call {calls}, use double-underscore names other than
{", ".join(f"`{d}`" for d in sorted(ALLOWED_DUNDERS))}, or use {numpy}
(they read or write files, run code from text, or reach into Python itself).

A file that breaks a rule is not run at grading: the items that use it score 0.
The tester notebooks and `python handin.py` apply the same rules and tell you
the file, the line and the items it would cost."""


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}: {self.message}"


class _Allowed:
    """The modules one piece of student code may use."""

    def __init__(self, modules: Iterable[str], package: str):
        self.declared = tuple(dict.fromkeys(modules))
        self.names = STDLIB_MODULES | set(self.declared) | ({package} if package else set())

    def covers(self, name: str) -> bool:
        """``name`` is an allowed module or inside one."""
        return any(name == a or name.startswith(a + ".") for a in self.names)

    def leads_to(self, name: str) -> bool:
        """``name`` is not allowed itself but holds an allowed module (``scipy`` for ``scipy.special``)."""
        return any(a.startswith(name + ".") for a in self.names)

    def refusal(self, name: str) -> str:
        listing = ", ".join(self.declared) if self.declared else "nothing"
        return f"imports {name!r}: student code may import only {listing} and harmless standard-library modules"


def check_source(text: str, path: str, modules: Iterable[str] = DEFAULT_MODULES,
                 package: str = "mytorch") -> list[Violation]:
    """Every rule the code breaks; code that does not parse is one violation.

    ``modules``: what the assignment declares student code may import; ``package``:
    the students' own library package; ``path`` names the code in the messages."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as err:
        return [Violation(path, err.lineno or 0, f"syntax error: {err.msg}")]
    allowed = _Allowed(modules, package)
    found: list[Violation] = []
    numpy_names = {"numpy"}
    # Names bound to a module that only leads to allowed ones (``import scipy`` for
    # scipy.special): what the code then takes from them is checked too.
    partial: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _check_module(alias.name, node, path, found, allowed)
                bound, module = (alias.asname, alias.name) if alias.asname else \
                    (alias.name.split(".")[0], alias.name.split(".")[0])
                if module == "numpy":
                    numpy_names.add(bound)
                if allowed.leads_to(module):
                    partial[bound] = module
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                _check_from(node, path, found, allowed, partial)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(Violation(path, node.lineno, f"calls {node.func.id}(), which student code may not use"))
        elif isinstance(node, ast.Name) and node.id.startswith("__") and node.id not in ALLOWED_DUNDERS:
            found.append(Violation(path, node.lineno, f"uses {node.id}, an interpreter internal"))
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
                found.append(Violation(path, node.lineno, f"uses .{node.attr}, an interpreter internal"))
            if isinstance(node.value, ast.Name) and node.value.id in numpy_names:
                _check_numpy_attr(node.attr, node, path, found)
                if isinstance(node.ctx, (ast.Store, ast.Del)):
                    found.append(Violation(path, node.lineno, f"changes numpy itself ({node.value.id}.{node.attr})"))
    if partial:
        _check_partial_uses(tree, path, found, allowed, partial)
    return sorted(set(found), key=lambda v: (v.line, v.message))


def _check_module(name: str, node: ast.AST, path: str, found: list[Violation], allowed: _Allowed) -> None:
    if not allowed.covers(name) and not allowed.leads_to(name):
        found.append(Violation(path, node.lineno, allowed.refusal(name)))
    elif name.startswith("numpy."):
        _check_numpy_attr(name.split(".")[1], node, path, found)


def _check_from(node: ast.ImportFrom, path: str, found: list[Violation], allowed: _Allowed,
                partial: dict[str, str]) -> None:
    module = node.module or ""
    if allowed.covers(module):
        if module == "numpy":
            for alias in node.names:
                _check_numpy_attr(alias.name, node, path, found)
        elif module.startswith("numpy."):
            _check_numpy_attr(module.split(".")[1], node, path, found)
        return
    if not allowed.leads_to(module):
        found.append(Violation(path, node.lineno, allowed.refusal(module)))
        return
    for alias in node.names:  # from scipy import special: each name must be (or lead to) an allowed module
        name = f"{module}.{alias.name}"
        if alias.name == "*" or not (allowed.covers(name) or allowed.leads_to(name)):
            found.append(Violation(path, node.lineno, allowed.refusal(name)))
        elif allowed.leads_to(name):
            partial[alias.asname or alias.name] = name


def _check_partial_uses(tree: ast.AST, path: str, found: list[Violation], allowed: _Allowed,
                        partial: dict[str, str]) -> None:
    """``scipy.stats`` after ``import scipy`` when only scipy.special is allowed is an import too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            module = _dotted(node.value, partial)
            if module and not allowed.covers(module) and allowed.leads_to(module):
                name = f"{module}.{node.attr}"
                if not (allowed.covers(name) or allowed.leads_to(name)):
                    found.append(Violation(path, node.lineno, allowed.refusal(name)))


def _dotted(node: ast.AST, partial: dict[str, str]) -> str:
    """The module a chain like ``scipy.special`` names, if it starts at a partially allowed module."""
    if isinstance(node, ast.Name):
        return partial.get(node.id, "")
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value, partial)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _check_numpy_attr(attr: str, node: ast.AST, path: str, found: list[Violation]) -> None:
    if attr in FORBIDDEN_NUMPY:
        found.append(Violation(path, node.lineno, f"uses numpy.{attr}, which student code may not use"))
