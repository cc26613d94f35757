"""The test tiers: every test module has its areas in tests/conftest.py's table, every area is a
registered marker, and a module missing from the table stops collection with one clear line."""
import importlib
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import AREAS, CLASSWIDE_TESTS, REPO, SLOW_FIXTURES, SLOW_TESTS, pytest_collection_modifyitems

def test_the_table_names_every_test_module_and_nothing_else():
    modules = {p.stem for p in (REPO / "tests").rglob("test_*.py")}
    assert sorted(modules - AREAS.keys()) == []
    assert sorted(AREAS.keys() - modules) == []


def test_every_area_is_a_registered_marker():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    registered = {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    used = {area for areas in AREAS.values() for area in areas}
    assert sorted(used - registered) == []
    assert {"slow", "classwide", "browser"} <= registered


class _Item(SimpleNamespace):
    def add_marker(self, name: str) -> None:
        self.markers.append(name)


def test_a_module_missing_from_the_table_stops_collection():
    item = _Item(path=Path("tests/test_brand_new.py"), nodeid="tests/test_brand_new.py::test_x", markers=[])
    with pytest.raises(pytest.UsageError, match="AREAS names no area for test_brand_new; add each module"):
        pytest_collection_modifyitems(None, [item])


def test_a_module_in_the_table_gets_its_areas_as_markers():
    item = _Item(path=Path("tests/test_sandbox.py"), nodeid="tests/test_sandbox.py::test_x", markers=[])
    pytest_collection_modifyitems(None, [item])
    assert item.markers == list(AREAS["test_sandbox"])


def test_this_session_has_the_markers(request):
    assert request.node.get_closest_marker("tooling") is not None


def test_every_single_classwide_or_slow_test_and_fixture_exists():
    """A renamed test or fixture would silently fall back into the fast tier."""
    for entry in CLASSWIDE_TESTS + SLOW_TESTS:
        module, name = entry.split("::")
        assert f"\ndef {name}(" in (REPO / "tests" / module).read_text(), entry
    for module, fixture in SLOW_FIXTURES:
        assert f"\ndef {fixture}(" in (REPO / "tests" / f"{module}.py").read_text(), (module, fixture)


# Kit modules the fast tier runs only in another process, so `make check --kit-touched` would not see
# them imported: importing them here catches an import that breaks (a moved module, a loop).
RUN_ELSEWHERE = {
    "coursekit.autograde.child": "copied into the sandbox and run as a script (test_harness, test_sandbox)",
    "coursekit.runtime.checks.predict": "`python -m` in the student's folder (test_student_view's predictions)",
    "coursekit.runtime.handin.prediction": "inside handin.py's process (test_handin, test_student_view's kernels)",
    "coursekit.demo": "`course demo` / `make demo` only: no test runs it",
}


@pytest.mark.parametrize("module", sorted(RUN_ELSEWHERE))
def test_kit_modules_run_in_other_processes_import(module):
    importlib.import_module(module)
