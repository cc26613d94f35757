"""hw2's notebooks as a student runs them, without a kernel: every ungraded cell (the pictures,
the demonstrations, the training comparison) runs on the reference library and agrees with
PyTorch, the training comparison reaches its accuracy in its time, every such cell stays polite
on the released stubs (one printed line, no exception), and every keyword a hidden case passes
changes the inputs its check draws (a misspelt one would be silently ignored)."""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

import importlib.util

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import pytest  # noqa: E402

from coursekit.assignment import load_assignment  # noqa: E402
from coursekit.autograde.cases import read_cases  # noqa: E402
from coursekit.runtime.checks import load_module  # noqa: E402
from coursekit.library.markers import SOLUTION, find_regions  # noqa: E402
from conftest import REPO  # noqa: E402

# hw2's own helper module sits in its assignment folder (nbgrader ships it from there).
_spec = importlib.util.spec_from_file_location("hw2_plots", REPO / "source" / "hw2" / "hw2_plots.py")
hw2_plots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hw2_plots)

HW2 = load_assignment(REPO, "hw2")
SOURCE = REPO / "source" / "hw2"
CHECKS = load_module(REPO / HW2.checks).checks
PACKAGE = HW2.package


def write_library(folder: Path, stubs: bool) -> Path:
    """hw2's library as the release gives it (stubs) or as the reference student hands it in."""
    from coursekit.library.view import library_view, order_of, reference_file, student_stub

    order = order_of(HW2)
    for rel in HW2.student_files + HW2.library_files:
        text = (REPO / rel).read_text(encoding="utf-8")
        if rel in HW2.library_files:
            text = library_view(HW2, rel, text, order)
        else:
            text = student_stub(HW2, rel, text, order) if stubs else reference_file(HW2, REPO, rel)
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    return folder


def released_cell(source: str) -> str:
    """A solution cell as nbgrader releases it: each solution region becomes the stub."""
    lines = source.split("\n")
    for region in reversed(find_regions(lines, SOLUTION)[0]):
        indent = lines[region.begin][: len(lines[region.begin]) - len(lines[region.begin].lstrip())]
        lines[region.begin:region.end + 1] = [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
    return "\n".join(lines)


def ungraded_cells(name: str, stubs: bool) -> list[tuple[str, str]]:
    """(grade id, source) of the code cells a student runs that are not graded test cells."""
    nb = nbformat.read(SOURCE / f"{name}.ipynb", as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        source = released_cell(cell.source) if stubs and meta.get("solution") else cell.source
        cells.append((meta.get("grade_id", "?"), source))
    return cells


@contextlib.contextmanager
def student_folder(folder: Path):
    """The kernel's view: cwd is the folder, its ``mytorch`` first on the path, the shipped
    ``hw2_plots`` importable; everything as it was afterwards."""
    saved = {k: v for k, v in sys.modules.items() if k == PACKAGE or k.startswith(PACKAGE + ".")}
    for k in saved:
        del sys.modules[k]
    plots_before = sys.modules.get("hw2_plots")
    sys.modules["hw2_plots"] = hw2_plots
    sys.path.insert(0, str(folder))
    cwd = os.getcwd()
    os.chdir(folder)  # no data/ here: the training runs on the digits, as the kit's own test data
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path.remove(str(folder))
        for k in [k for k in sys.modules if k == PACKAGE or k.startswith(PACKAGE + ".")]:
            del sys.modules[k]
        sys.modules.update(saved)
        if plots_before is None:
            del sys.modules["hw2_plots"]
        else:
            sys.modules["hw2_plots"] = plots_before
        import matplotlib.pyplot as plt

        plt.close("all")


def run_notebook(name: str, folder: Path, stubs: bool) -> tuple[str, dict]:
    """Run the notebook's ungraded cells in order in one namespace; (printed text, namespace)."""
    namespace: dict = {"__name__": "__main__"}
    out = io.StringIO()
    with student_folder(folder), contextlib.redirect_stdout(out):
        for grade_id, source in ungraded_cells(name, stubs):
            exec(compile(source, f"<{name}: {grade_id}>", "exec"), namespace)
    return out.getvalue(), namespace


NUMBER = re.compile(r"\d\.\de[-+]\d\d")


@pytest.fixture(scope="module")
def reference_folder(tmp_path_factory) -> Path:
    return write_library(tmp_path_factory.mktemp("reference"), stubs=False)


@pytest.fixture(scope="module")
def stub_folder(tmp_path_factory) -> Path:
    return write_library(tmp_path_factory.mktemp("stubs"), stubs=True)


@pytest.mark.parametrize("name", [n for n in HW2.notebooks if n != "TrainingTester"])
def test_every_ungraded_cell_agrees_with_pytorch_on_the_reference(name, reference_folder):
    text, _ = run_notebook(name, reference_folder, stubs=False)
    assert "not implemented" not in text and "skipped" not in text, text
    for line in text.splitlines():
        numbers = [float(x) for x in NUMBER.findall(line)]
        if "max |" in line:  # MyTorch next to PyTorch, or next to the formula
            assert numbers and max(numbers) < 1e-12, line
        elif "relative error" in line and "direct path" not in line:  # numerical_grad vs backward
            assert numbers and max(numbers) < 1e-7, line
        elif "direct path" in line:  # the gradient that ignores M and V is caught
            assert numbers and min(numbers) > 1e-2, line
    if name == "DropoutTester":
        rows = [line.split() for line in text.splitlines() if re.match(r"\s*0\.\d\s", line)]
        assert len(rows) == 4 and all(abs(float(row[-1])) < 7 for row in rows), text


def test_the_training_comparison_reaches_its_accuracy_in_its_time(reference_folder):
    """TrainingTester on the digits: both libraries at 97 % or more after the last epoch, their
    training together well inside a minute (measured: a few seconds each on 2 cores)."""
    text, ns = run_notebook("TrainingTester", reference_folder, stubs=False)
    assert "skipped" not in text, text
    mine, theirs = ns["mine"], ns["theirs"]
    assert ns["data"].name == "digits"
    assert len(mine["epoch"]) == len(theirs["epoch"]) == hw2_plots.TRAINING_DEFAULTS["digits"]["epochs"]
    assert mine["test_acc"][-1] >= 0.97 and theirs["test_acc"][-1] >= 0.97, text
    assert mine["seconds"] + theirs["seconds"] < 60, text
    # One line per library, nothing else printed by the run (the data set and settings come first).
    assert [line.split()[0] for line in text.splitlines()[2:]] == ["MyTorch", "PyTorch"], text


@pytest.mark.parametrize("name", HW2.notebooks)
def test_every_ungraded_cell_is_polite_on_the_released_stubs(name, stub_folder):
    text, _ = run_notebook(name, stub_folder, stubs=True)  # raises if a cell does
    assert "not implemented yet" in text, text


@pytest.mark.parametrize("grade_id", sorted(CHECKS))
def test_every_keyword_of_a_hidden_case_changes_the_inputs(grade_id):
    import numpy as np

    cases = read_cases(HW2, SOURCE)[grade_id][1:]
    assert len(cases) >= 2
    for case in cases:
        seed, shape = case["seed"], {k: v for k, v in case.items() if k != "seed"}
        drawn = CHECKS[grade_id].inputs(seed, **shape)
        for key in shape:
            without = CHECKS[grade_id].inputs(seed, **{k: v for k, v in shape.items() if k != key})
            same = drawn.keys() == without.keys() and all(
                np.shape(drawn[k]) == np.shape(without[k]) and np.array_equal(drawn[k], without[k]) for k in drawn)
            assert not same, f"{grade_id}, seed {seed}: {key}={shape[key]!r} changes nothing"
    seeds = [case["seed"] for case in cases]
    assert len(set(seeds)) == len(seeds)
