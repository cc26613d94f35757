"""The kit's layers are one-way: no import loop between its parts, and the runtime that ships to
students imports nothing of the kit outside itself.

A part is a top-level module of ``coursekit`` or one of its sub-packages.  Every import counts,
function-local ones too: a loop hidden in a function is still a loop a maintainer must untangle.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parent.parent / "coursekit"
# The ground floor: what every other part may use, and which uses no other part but itself.
GROUND = {"safefs", "timestamps", "ipynb", "inert", "spreadsheet", "results"}


def part_of(module: str) -> str | None:
    """``coursekit.autograde.grader`` -> ``autograde``; None outside the kit or for the package itself."""
    names = module.split(".")
    if names[0] != "coursekit" or len(names) < 2:
        return None
    return names[1]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from coursekit import safefs` imports the part safefs, not the package
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def kit_graph(kit: Path = KIT) -> dict[str, set[str]]:
    """part -> the other parts it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in kit.rglob("*.py"):
        rel = path.relative_to(kit.parent).with_suffix("")
        source = part_of(".".join(rel.parts).removesuffix(".__init__"))
        if source is None:
            continue
        graph[source]
        for module in imported_modules(path):
            target = part_of(module)
            if target and target != source and ((kit / target).is_dir() or (kit / f"{target}.py").is_file()):
                graph[source].add(target)
    return graph


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_loop_between_kit_parts():
    graph = kit_graph()
    assert loops(graph) == [], "import loops between kit parts (function-local imports count): " + "; ".join(
        " <-> ".join(loop) for loop in loops(graph))


def test_the_ground_floor_imports_only_the_ground_floor():
    graph = kit_graph()
    wrong = {part: sorted(graph[part] - GROUND) for part in GROUND if graph[part] - GROUND}
    assert wrong == {}


def test_the_runtime_imports_nothing_of_the_kit_outside_itself():
    """A release ships coursekit/runtime/ alone: an import of another kit module would fail there."""
    outside = sorted(f"{path.relative_to(KIT.parent)}: {module}"
                     for path in (KIT / "runtime").rglob("*.py")
                     for module in imported_modules(path)
                     if module.startswith("coursekit.") and not module.startswith("coursekit.runtime"))
    assert outside == []


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_loops_finds_what_it_should(graph, expected):
    assert loops(graph) == expected


def test_a_function_local_import_counts(tmp_path):
    kit = tmp_path / "coursekit"
    (kit / "one").mkdir(parents=True)
    (kit / "__init__.py").write_text("")
    (kit / "one" / "__init__.py").write_text("from coursekit import two\n")
    (kit / "two.py").write_text("def f():\n    from coursekit.one import thing\n")
    assert loops(kit_graph(kit)) == [["one", "two"]]


def graph_lines(graph: dict[str, set[str]]) -> list[str]:
    return [f"{part} -> {', '.join(sorted(graph[part])) or '(nothing)'}" for part in sorted(graph)]


def test_the_layout_page_shows_the_import_graph_as_it_is(repo):
    """docs/layout.md's "Who imports whom" block is this graph (regenerate it from graph_lines)."""
    page = (repo / "docs" / "layout.md").read_text(encoding="utf-8")
    block = page.split("## Who imports whom", 1)[1].split("```", 2)[1].strip("\n").splitlines()
    expected = graph_lines(kit_graph())
    assert block == expected, "docs/layout.md's import graph is stale; it is now:\n" + "\n".join(expected)
