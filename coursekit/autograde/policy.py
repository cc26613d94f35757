"""What MyTorch files may import and call, checked on their source before they run.

Students write numerical code: numpy and a few harmless standard-library
modules are all it needs.  Anything else — torch, the file system, the
import machinery, the interpreter's internals — has no honest use here and
is how a submission would reach for the reference, the hidden data, or a
library that does the work for it.  The sandbox enforces the same at run
time (torch is not even visible there); this check gives the clear reason.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

ALLOWED_MODULES = frozenset({
    "numpy", "math", "cmath", "functools", "itertools", "operator", "typing", "dataclasses",
    "abc", "collections", "numbers", "enum", "copy", "warnings", "__future__", "mytorch",
})
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


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}: {self.message}"


def check_source(text: str, path: str) -> list[Violation]:
    """Every rule the file breaks; a file that does not parse is one violation."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as err:
        return [Violation(path, err.lineno or 0, f"syntax error: {err.msg}")]
    found: list[Violation] = []
    numpy_names = {"numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _check_module(alias.name, node, path, found)
                if alias.name == "numpy":
                    numpy_names.add(alias.asname or "numpy")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                _check_module(node.module or "", node, path, found)
                if node.module == "numpy":
                    for alias in node.names:
                        _check_numpy_attr(alias.name, node, path, found)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(Violation(path, node.lineno, f"calls {node.func.id}(), which MyTorch code may not use"))
        elif isinstance(node, ast.Name) and node.id.startswith("__") and node.id not in ALLOWED_DUNDERS:
            found.append(Violation(path, node.lineno, f"uses {node.id}, an interpreter internal"))
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
                found.append(Violation(path, node.lineno, f"uses .{node.attr}, an interpreter internal"))
            if isinstance(node.value, ast.Name) and node.value.id in numpy_names:
                _check_numpy_attr(node.attr, node, path, found)
                if isinstance(node.ctx, (ast.Store, ast.Del)):
                    found.append(Violation(path, node.lineno, f"changes numpy itself ({node.value.id}.{node.attr})"))
    return sorted(set(found), key=lambda v: (v.line, v.message))


def _check_module(name: str, node: ast.AST, path: str, found: list[Violation]) -> None:
    top = name.split(".")[0]
    if top not in ALLOWED_MODULES:
        found.append(Violation(path, node.lineno, f"imports {name!r}: MyTorch may import only numpy "
                                                  "and harmless standard-library modules"))
    elif name.startswith("numpy."):
        _check_numpy_attr(name.split(".")[1], node, path, found)


def _check_numpy_attr(attr: str, node: ast.AST, path: str, found: list[Violation]) -> None:
    if attr in FORBIDDEN_NUMPY:
        found.append(Violation(path, node.lineno, f"uses numpy.{attr}, which MyTorch code may not use"))
