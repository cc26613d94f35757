"""The released folder stands on its own: every tester runs there, and fails politely while code is missing."""
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import HW1

# A kernel that prints where `coursekit` came from: it must be the copy shipped in the folder.
WHERE = "import coursekit, os; print('KIT', os.path.dirname(os.path.dirname(coursekit.__file__)))"


def run(folder, name):
    nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(WHERE))
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def errors(nb):
    return [(c.metadata.get("nbgrader", {}).get("grade_id"), o) for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.fixture(scope="module")
def blank(released_course, tmp_path_factory):
    folder = tmp_path_factory.mktemp("student") / "hw1"
    shutil.copytree(released_course.folder("release", "hw1"), folder)
    return folder


@pytest.mark.parametrize("name", [n for n in HW1.notebooks if n != "TrainingTester"])
def test_blank_release_fails_politely_in_graded_cells_only(blank, name):
    nb = run(blank, name)
    assert f"KIT {blank}" in nb.cells[0].outputs[0]["text"]
    graded = {i.grade_id for i in HW1.items_of(name)}
    errs = errors(nb)
    assert {gid for gid, _ in errs} == graded  # every graded cell fails, nothing else errors
    for _, out in errs:
        assert out.ename == "CheckFailed" and "not implemented yet" in out.evalue


def test_training_notebook_says_what_is_missing(blank):
    nb = run(blank, "TrainingTester")
    errs = errors(nb)
    assert errs and all(out.ename == "NotImplementedError" for _, out in errs)
