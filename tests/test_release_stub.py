"""Stubbing the reference library, assembling and releasing, and the leak scan."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from coursekit.assignment import Assignment, Item
from coursekit.course import Course
from coursekit.runtime.pytorch import TORCH_VERSION
from coursekit import release as rel
from coursekit.library import view
from coursekit.library.stub import StubError, stub_source
from coursekit.library.markers import SOLUTION, find_regions
from coursekit.validate import ValidationError

from conftest import HW1, fake_nbgrader

REPO = Path(__file__).resolve().parent.parent
STUDENT_FILES = HW1.student_files


def read(path: str) -> str:
    return (REPO / path).read_text(encoding="utf-8")


def solution_lines(text: str) -> set[str]:
    """Stripped non-blank region lines that occur nowhere outside a region."""
    lines = text.splitlines()
    regions = find_regions(lines, SOLUTION)[0]
    inside = {i for r in regions for i in range(r.begin, r.end + 1)}
    public = {lines[i].strip() for i in range(len(lines)) if i not in inside}
    return {lines[i].strip() for i in inside if lines[i].strip() and lines[i].strip() not in public}


def docstrings(text: str) -> list[str | None]:
    nodes = [n for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))]
    return [ast.get_docstring(n, clean=False) for n in nodes]


# --- stubbing the real reference files --------------------------------------------------


@pytest.mark.parametrize("path", STUDENT_FILES)
def test_stubbed_student_file_compiles_and_hides_the_solution(path):
    reference = read(path)
    stubbed = stub_source(reference, path)
    compile(stubbed, path, "exec")
    stubbed_lines = {line.strip() for line in stubbed.splitlines()}
    assert solution_lines(reference), "a student file without solution lines tests nothing"
    assert not solution_lines(reference) & stubbed_lines
    assert "BEGIN SOLUTION" not in stubbed and "END SOLUTION" not in stubbed
    assert docstrings(stubbed) == docstrings(reference)


@pytest.mark.parametrize("path", STUDENT_FILES)
def test_everything_outside_the_regions_is_kept_byte_identical(path):
    reference = read(path)
    lines = reference.splitlines(keepends=True)
    regions = find_regions([line.rstrip("\n") for line in lines], SOLUTION)[0]
    stubbed = stub_source(reference, path)
    # The kept stretches, in order, with exactly one stub between two of them.
    cuts = [0] + [i for r in regions for i in (r.begin, r.end + 1)] + [len(lines)]
    kept = ["".join(lines[a:b]) for a, b in zip(cuts[::2], cuts[1::2])]
    position = 0
    for stretch in kept:
        found = stubbed.find(stretch, position)
        assert found >= position, f"{path}: lost {stretch!r}"
        position = found + len(stretch)
    assert stubbed.count("# YOUR CODE HERE") == len(regions)


def test_given_identity_class_is_untouched():
    path = "mytorch/nn/activation.py"
    reference, stubbed = read(path), stub_source(read(path), path)

    def identity(text: str) -> str:
        node = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "Identity")
        return ast.get_source_segment(text, node)

    assert identity(stubbed) == identity(reference)
    assert "NotImplementedError" not in identity(stubbed)


def test_stubbed_package_imports_and_every_stubbed_function_raises(tmp_path):
    # As hw1 releases them: its view of each file (the library holds later assignments' code too).
    for path in HW1.student_files:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(view.student_stub(HW1, path, read(path)))
    for path in HW1.library_files:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(view.library_view(HW1, path, read(path)))
    script = textwrap.dedent(
        """
        import importlib, inspect, sys
        sys.path.insert(0, sys.argv[1])
        import mytorch
        assert mytorch.__file__.startswith(sys.argv[1]), mytorch.__file__
        checked = 0
        for module_name, qualname in [a.split(":") for a in sys.argv[2:]]:
            module = importlib.import_module(module_name)
            cls_name, meth = qualname.split(".")
            cls = getattr(module, cls_name)
            func = getattr(cls, meth)
            params = [p for p in inspect.signature(func).parameters.values()
                      if p.default is p.empty][1:]
            try:
                func(cls.__new__(cls), *[None] * len(params))
            except NotImplementedError as err:
                assert qualname in str(err), (qualname, str(err))
                checked += 1
            else:
                raise AssertionError(f"{qualname} did not raise NotImplementedError")
        print(checked)
        """
    )
    targets = [f"{p[:-3].replace('/', '.')}:{name}" for p in HW1.student_files
               for name in stubbed_functions(view.library_view(HW1, p, read(p)))]
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), *targets],
        capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(targets) >= 20


def stubbed_functions(text: str) -> list[str]:
    """Class.method of every method whose body holds a solution region."""
    region_lines = {r.begin + 1 for r in find_regions(text.splitlines(), SOLUTION)[0]}
    names = []
    for cls in (n for n in ast.parse(text).body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            if any(fn.lineno <= line <= fn.end_lineno for line in region_lines):
                names.append(f"{cls.name}.{fn.name}")
    return names


# --- stubbing edge cases ----------------------------------------------------------------


def test_region_that_is_the_whole_body_after_a_docstring():
    src = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n'
    out = stub_source(src, "m.py")
    assert out == (
        'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n'
        '    raise NotImplementedError("f is not implemented yet")\n'
    )
    compile(out, "m.py", "exec")


def test_nested_function_and_module_level_regions():
    src = (
        "### BEGIN SOLUTION\nX = 1\n### END SOLUTION\n"
        "class A:\n    class B:\n        def g(self):\n"
        "            if True:\n                ### BEGIN SOLUTION\n"
        "                pass\n                ### END SOLUTION\n"
        "            return 1\n"
    )
    out = stub_source(src, "m.py")
    assert out.startswith('# YOUR CODE HERE\nraise NotImplementedError("this part is not implemented yet")\n')
    assert '                raise NotImplementedError("A.B.g is not implemented yet")\n            return 1\n' in out
    compile(out, "m.py", "exec")


def test_crlf_line_endings_are_kept():
    src = "def f():\r\n    ### BEGIN SOLUTION\r\n    return 1\r\n    ### END SOLUTION\r\n\r\nY = 2\r\n"
    out = stub_source(src, "m.py")
    assert out == ('def f():\r\n    # YOUR CODE HERE\r\n    raise NotImplementedError("f is not implemented yet")\r\n'
                   '\r\nY = 2\r\n')


@pytest.mark.parametrize(
    "src, line, needle",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", 2, "without a matching 'END SOLUTION'"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", 3, "without a matching 'BEGIN SOLUTION'"),
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", 3, "nested"),
    ],
    ids=["unpaired-begin", "unpaired-end", "nested"],
)
def test_mismatched_markers_raise_naming_path_and_line(src, line, needle):
    with pytest.raises(StubError) as err:
        stub_source(src, "mytorch/x.py")
    assert f"mytorch/x.py:{line}: " in str(err.value)
    assert needle in str(err.value)


def test_a_stub_that_would_not_compile_is_refused():
    # A BEGIN marker dedented below its body: the stub would land outside the function.
    src = "def f():\n### BEGIN SOLUTION\n    return 1\n### END SOLUTION\n"
    with pytest.raises(StubError, match=r"m.py:\d+: stubbed file does not compile"):
        stub_source(src, "m.py")


# --- a small synthetic course for assemble / release / scan ------------------------------

CORE = '''import numpy as np


def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    y = x + x
    return y
    ### END SOLUTION


def triple(x):
    """Thrice x."""
    ### BEGIN SOLUTION
    if x is None:
        return None
    else:
        return 3 * x
    ### END SOLUTION


def given(y):
    # `return y` is also in a solution region, so it is no secret.
    return y
'''

ASSIGNMENT = Assignment(
    name="hwx",
    notebooks=("NbA",),
    items=(Item("a1", 3, "NbA"),),
    student_files=("mylib/core.py",),
    library_files=("mylib/__init__.py",),
    checks="source/hwx/checks.py",
    fixture="data/fix.npz",
    package="mylib",
)
CHECKS = '''import numpy as np
from coursekit.runtime.checks import Check, Checks

HELP = 'help'
checks = Checks()
checks.add(Check("a1", "double", lambda rng, shape: {"x": np.ones(2)}, lambda mt, x: {"y": mt.double(x["x"])},
                 lambda x: {"y": 2 * x["x"]}))
'''
SHIPPED = "coursekit/runtime/checks/assignment.py"  # where a release puts the checks module
HIDDEN_LINE = "assert double(21) == 42, 'hidden check'"


def write_course(root: Path) -> Path:
    (root / "mylib").mkdir(parents=True)
    (root / "mylib" / "__init__.py").write_text("from mylib.core import double, triple\n")
    (root / "mylib" / "core.py").write_text(CORE)
    nb = new_notebook(cells=[
        new_code_cell(
            "from mylib import double\nassert double(1) == 2\n### BEGIN HIDDEN TESTS\n"
            f"{HIDDEN_LINE}\nassert double(1) == 2\n### END HIDDEN TESTS",
            metadata={"nbgrader": {"grade": True, "grade_id": "a1", "locked": True, "points": 3,
                                   "schema_version": 3, "solution": False, "task": False}},
        )
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / "source" / "hwx").mkdir(parents=True)
    nbformat.write(nb, root / "source" / "hwx" / "NbA.ipynb")
    (root / "source" / "hwx" / "checks.py").write_text(CHECKS)
    # A real fixture, built from the checks: validate refuses one they no longer give.
    from coursekit.fixtures import build, write_npz

    write_npz(root / "data" / "fix.npz", build(ASSIGNMENT, root))
    return root


def C(root: Path) -> Course:
    """A course whose root is also its repo, as a real course is."""
    return Course(root, repo=root)


@pytest.fixture
def course(tmp_path) -> Path:
    return write_course(tmp_path / "course")


def test_assemble_source_copies_library_fixtures_and_kit(course):
    stale = course / "source" / "hwx" / "mylib" / "old.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("OLD = 1\n")
    written = rel.assemble_source(ASSIGNMENT, C(course))
    dest = course / "source" / "hwx"
    for path in ("mylib/core.py", "mylib/__init__.py", "data/fix.npz"):
        assert (dest / path).read_bytes() == (course / path).read_bytes()
    assert (dest / SHIPPED).read_text() == CHECKS  # the checks ship as the kit's copy
    for kit_file in ("coursekit/runtime/checks/tester.py", "coursekit/runtime/handin/main.py"):
        assert (dest / kit_file).read_bytes() == (rel.KIT_ROOT / kit_file).read_bytes()
    assert not stale.exists()
    assert (dest / "NbA.ipynb").exists()
    assert {p.relative_to(dest).as_posix() for p in written} >= {"mylib/core.py", "data/fix.npz", SHIPPED}


def test_assemble_source_writes_a_kit_init_for_coursekit_modules(course):
    rel.assemble_source(ASSIGNMENT, C(course))
    kit_init = course / "source" / "hwx" / "coursekit" / "__init__.py"
    assert kit_init.read_text() == rel.KIT_INIT


def test_scan_catches_a_release_that_was_not_stubbed(course):
    rel.assemble_source(ASSIGNMENT, C(course))
    fake_nbgrader(ASSIGNMENT, C(course))  # copies core.py verbatim, as nbgrader does
    leaks = rel.scan_release(ASSIGNMENT, C(course))
    assert "release/hwx/mylib/core.py: line 7: solution line from mylib/core.py:7: y = x + x" in leaks
    assert any(leak.startswith("release/hwx/mylib/core.py: line 18: ") for leak in leaks)
    # `else:` and `return y` (also outside the regions) are not secrets.
    assert not any(leak.endswith((": else:", ": return y", ": return None")) for leak in leaks)

    rel.write_student_library(ASSIGNMENT, C(course))
    assert rel.scan_release(ASSIGNMENT, C(course)) == []


def test_scan_catches_a_planted_hidden_test_and_a_solution_in_any_file(course):
    rel.assemble_source(ASSIGNMENT, C(course))
    fake_nbgrader(ASSIGNMENT, C(course))
    rel.write_student_library(ASSIGNMENT, C(course))
    dest = rel.release_dir(ASSIGNMENT, C(course))
    nb = nbformat.read(dest / "NbA.ipynb", as_version=4)
    nb.cells.append(new_code_cell(f"x = 1\n    {HIDDEN_LINE}  "))
    nbformat.write(nb, dest / "NbA.ipynb")
    (dest / "coursekit" / "notes.txt").write_text(f"    return 3 * x\n# {HIDDEN_LINE}\n")
    leaks = rel.scan_release(ASSIGNMENT, C(course))
    assert sorted(leaks) == [
        f"release/hwx/NbA.ipynb: cell 1: hidden test line from source/hwx/NbA.ipynb: cell 0: {HIDDEN_LINE}",
        "release/hwx/coursekit/notes.txt: line 1: solution line from mylib/core.py:18: return 3 * x",
        # Long secrets are found inside longer lines too.
        f"release/hwx/coursekit/notes.txt: line 2: hidden test line from source/hwx/NbA.ipynb: cell 0: {HIDDEN_LINE}",
    ]
    # A hidden line that repeats a visible one (`assert double(1) == 2`) is no secret.
    assert not any("double(1)" in leak for leak in leaks)


def test_scan_reads_notebook_strings_decoded(course):
    """A secret with quotes is JSON-escaped in the file; it must still be found."""
    rel.assemble_source(ASSIGNMENT, C(course))
    fake_nbgrader(ASSIGNMENT, C(course))
    rel.write_student_library(ASSIGNMENT, C(course))
    dest = rel.release_dir(ASSIGNMENT, C(course))
    raw = json.loads((dest / "NbA.ipynb").read_text())
    raw["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [f"{HIDDEN_LINE}\n"]}]
    raw["cells"][0]["execution_count"] = 1
    (dest / "NbA.ipynb").write_text(json.dumps(raw))
    assert len(rel.scan_release(ASSIGNMENT, C(course))) == 1


def test_release_stubs_documents_and_refuses_to_overwrite(course, monkeypatch):
    monkeypatch.setattr(rel, "run_generate_assignment", fake_nbgrader)
    dest = rel.release(ASSIGNMENT, C(course))
    assert dest == course / "release" / "hwx"
    assert 'raise NotImplementedError("double is not implemented yet")' in (dest / "mylib/core.py").read_text()
    assert (dest / "mylib/__init__.py").read_text() == (course / "mylib/__init__.py").read_text()
    requirements = (dest / "requirements.txt").read_text()
    assert f"torch=={TORCH_VERSION}+cpu ; " in requirements and "\nnumpy\n" in requirements
    readme = (dest / "README.md").read_text()
    assert "pip install -r requirements.txt" in readme and "`mylib/`" in readme and "NbA.ipynb" in readme
    with pytest.raises(FileExistsError):
        rel.release(ASSIGNMENT, C(course))
    assert rel.release(ASSIGNMENT, C(course), force=True) == dest


def test_release_refuses_an_invalid_source(course, monkeypatch):
    monkeypatch.setattr(rel, "run_generate_assignment", fake_nbgrader)
    (course / "mylib" / "core.py").write_text(CORE.replace("    ### END SOLUTION\n", "", 1))
    with pytest.raises(ValidationError, match=r"mylib/core.py: line \d+: "):
        rel.release(ASSIGNMENT, C(course))
    assert not rel.release_dir(ASSIGNMENT, C(course)).exists()


def test_release_with_a_leak_is_removed(course, monkeypatch):
    monkeypatch.setattr(rel, "run_generate_assignment", fake_nbgrader)
    # The checks module is released as-is; here it repeats a solution line.
    checks = course / "source" / "hwx" / "checks.py"
    checks.write_text(CHECKS + "\n\ndef h(x):\n    y = x + x\n    return y\n")
    leak = r"release/hwx/coursekit/runtime/checks/assignment.py: line 11: solution line"
    with pytest.raises(rel.LeakError, match=leak):
        rel.release(ASSIGNMENT, C(course))
    assert not rel.release_dir(ASSIGNMENT, C(course)).exists()


def test_a_failed_release_leaves_no_release_behind(course, monkeypatch):
    monkeypatch.setattr(rel, "run_generate_assignment", fake_nbgrader)
    monkeypatch.setattr(rel, "write_student_docs", lambda *_: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        rel.release(ASSIGNMENT, C(course))
    assert not rel.release_dir(ASSIGNMENT, C(course)).exists()


def test_release_with_real_nbgrader(course):
    """One end-to-end run of nbgrader generate_assignment on the synthetic course."""
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "test"\n'
        'c.CourseDirectory.db_url = "sqlite:///gradebook.db"\n'
    )
    dest = rel.release(ASSIGNMENT, C(course))
    released = nbformat.read(dest / "NbA.ipynb", as_version=4)
    assert HIDDEN_LINE not in released.cells[0].source
    assert "assert double(1) == 2" in released.cells[0].source
    core = (dest / "mylib" / "core.py").read_text()
    assert "y = x + x" not in core and "# YOUR CODE HERE" in core
    assert (dest / "data" / "fix.npz").read_bytes() == (course / "data" / "fix.npz").read_bytes()
    assert (course / "gradebook.db").exists()
