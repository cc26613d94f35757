"""What students see is what the grader decides.

One student's hw1, with the mistakes a new student makes, seen three ways:
the tester notebooks' checks (in the student's folder, as a kernel runs
them), ``handin.py``'s grade prediction, and ``course autograde``'s grader.
They must agree on every item, except an item that fails only on a hidden
case (which only the grader has).  Expected costs are derived by hand from
the declaration (a file costs exactly the items whose ``files`` list it).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.autograde.grader import Grader
from coursekit.runtime.checks.policy import STDLIB_MODULES, check_source
from coursekit.samples import copy_release, hand_in_reference

from conftest import HW1, copy_course

LOSS = {"mse_forward", "mse_backward", "ce_forward", "ce_backward"}  # every item of mytorch/nn/loss.py
SGD = {"sgd_step"}                                                  # every item of mytorch/optim/sgd.py
HIDDEN_ONLY = {"linear_backward"}  # sums dLdO's first 32 rows only: the visible and random N are < 10


def plant(folder: Path) -> None:
    def edit(rel: str, old: str, new: str) -> None:
        path = folder / rel
        text = path.read_text()
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1))

    # Allowed: random only computes.  A plain student use of it.
    edit("mytorch/nn/activation.py", "import numpy as np",
         "import random\n\nimport numpy as np\n\n_UNUSED = random.random()")
    # Not allowed: os reaches the file system.  The file is not run at grading.
    edit("mytorch/optim/sgd.py", "class SGD", "import os\n\n\nclass SGD")
    # A syntax error on line 3 of loss.py.
    edit("mytorch/nn/loss.py", "import numpy as np", "import numpy as np\ndef broken(:")
    # A bug that only a batch of more than 32 rows shows.
    edit("mytorch/nn/linear.py", "self.dLdb = dLdO.sum(axis=0)", "self.dLdb = dLdO[:32].sum(axis=0)")


@pytest.fixture(scope="module")
def student(released_course, tmp_path_factory):
    course = copy_course(released_course, tmp_path_factory.mktemp("view") / "course")
    folder = copy_release(course.folder("release", "hw1"), course.folder("submitted", "hw1", "newbie"))
    hand_in_reference(HW1, course.repo, folder)
    plant(folder)
    return course, folder


def in_student_folder(folder: Path, code: str) -> subprocess.CompletedProcess:
    """Python in the student's folder, as their kernel or handin.py runs it (the shipped kit)."""
    return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.fixture(scope="module")
def notebook_view(student) -> dict[str, str]:
    """grade id -> "" if the notebook's check passes, else what it printed."""
    _, folder = student
    code = f"""
import json
from coursekit.runtime.checks.tester import CheckFailed, check
seen = {{}}
for grade_id in {[i.grade_id for i in HW1.auto_items]!r}:
    try:
        check(grade_id)
        seen[grade_id] = ""
    except CheckFailed as exc:
        seen[grade_id] = "\\n".join(exc.lines())
print("RESULT" + json.dumps(seen))
"""
    proc = in_student_folder(folder, code)
    assert "RESULT" in proc.stdout, proc.stderr
    return json.loads(proc.stdout.split("RESULT", 1)[1])


@pytest.fixture(scope="module")
def predicted(student) -> dict[str, dict]:
    _, folder = student
    code = """
import json
from coursekit.runtime.checks import shipped_facts
from coursekit.runtime.handin.prediction import Prediction, summary_lines
items = shipped_facts()["items"]
results = Prediction(__import__("pathlib").Path.cwd(), items).results()
print("RESULT" + json.dumps({"results": results, "lines": summary_lines(results, [i for i in items if i["manual"]])}))
"""
    proc = in_student_folder(folder, code)
    assert "RESULT" in proc.stdout, proc.stderr
    return json.loads(proc.stdout.split("RESULT", 1)[1])


@pytest.fixture(scope="module")
def graded(student):
    course, _ = student
    return {r.grade_id: r for r in Grader(HW1, course).grade("newbie").items}


def test_the_notebooks_fail_exactly_the_broken_files_items(notebook_view):
    assert {g for g, shown in notebook_view.items() if shown} == LOSS | SGD


def test_the_prediction_agrees_with_the_notebooks(notebook_view, predicted):
    assert {r["grade_id"] for r in predicted["results"] if not r["ok"]} == LOSS | SGD
    assert "predicted: 25 / 35 autograded points" in "\n".join(predicted["lines"])


def test_the_grader_agrees_except_for_the_hidden_case(graded, predicted):
    assert {g for g, r in graded.items() if not r.passed} == LOSS | SGD | HIDDEN_ONLY
    assert sum(r.points for r in graded.values()) == 35 - 8 - 2 - 4
    assert graded["linear_backward"].reason.startswith("hidden case")
    differ = {r["grade_id"] for r in predicted["results"] if r["ok"] != graded[r["grade_id"]].passed}
    assert differ == HIDDEN_ONLY


def test_a_broken_file_is_named_with_its_line_and_what_it_costs(notebook_view, graded, predicted):
    shown = notebook_view["mse_forward"]
    assert "mytorch/nn/loss.py, line 2: syntax error" in shown
    assert "it costs mse_forward, mse_backward, ce_forward, ce_backward (8 points)" in shown
    assert "mytorch/optim/sgd.py, line 1: imports 'os'" in notebook_view["sgd_step"]
    assert "mytorch/nn/loss.py, line 2: syntax error" in graded["mse_forward"].reason
    assert "mytorch/optim/sgd.py, line 1: imports 'os'" in graded["sgd_step"].reason
    assert next(r for r in predicted["results"] if r["grade_id"] == "sgd_step")["message"].startswith(
        "mytorch/optim/sgd.py, line 1: imports 'os'")


def test_a_failing_check_ends_with_the_line_to_run_and_shows_no_kit_code(notebook_view):
    for grade_id in LOSS | SGD:
        lines = notebook_view[grade_id].splitlines()
        assert lines[-1].startswith(f'Try it on fresh random inputs: check("{grade_id}", seed=')
        assert "tester.py" not in notebook_view[grade_id] and "Traceback" not in notebook_view[grade_id]


def test_the_prediction_says_what_decides_the_grade(student):
    """Without the broken files, every visible and random case passes: the summary says so."""
    course, folder = student
    clean = copy_release(course.folder("release", "hw1"), folder.parent.parent / "clean" / "hw1")
    hand_in_reference(HW1, course.repo, clean)
    proc = in_student_folder(clean, """
from pathlib import Path
from coursekit.runtime.checks import shipped_facts
from coursekit.runtime.handin.prediction import Prediction, summary_lines
items = shipped_facts()["items"]
print("\\n".join(summary_lines(Prediction(Path.cwd(), items).results(), [])))
""")
    assert "predicted: 35 / 35 autograded points (visible checks and random cases pass; hidden cases decide " \
           "the grade)" in proc.stdout, proc.stdout + proc.stderr


def test_an_mlp_that_fails_because_of_linear_says_so(student, released_course):
    course, _ = student
    folder = copy_release(course.folder("release", "hw1"), course.folder("submitted", "hw1", "linear_bug"))
    hand_in_reference(HW1, course.repo, folder)
    path = folder / "mytorch/nn/linear.py"
    path.write_text(path.read_text().replace("self.dLdb = dLdO.sum(axis=0)", "self.dLdb = dLdO.sum(axis=0) * 2"))
    proc = in_student_folder(folder, """
from coursekit.runtime.checks.tester import CheckFailed, check
try:
    check("mlp0")
except CheckFailed as exc:
    print("\\n".join(exc.lines()))
""")
    assert "it builds on code that fails its own checks (linear_backward): fix that first" in proc.stdout
    result = {r.grade_id: r for r in Grader(HW1, course).grade("linear_bug").items}
    assert "it builds on code that fails its own checks (linear_backward)" in result["mlp0"].reason
    assert "builds on" not in result["linear_backward"].reason


def test_a_failing_check_in_a_real_kernel_shows_the_verdict_not_a_traceback(student):
    """IPython renders CheckFailed through its hook: the error output is the verdict and the retry line."""
    from nbclient import NotebookClient

    _, folder = student
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from coursekit.runtime.checks.tester import check\ncheck('mse_forward')")])
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    error = next(o for o in nb.cells[0].outputs if o.output_type == "error")
    shown = "\n".join(error.traceback)
    assert error.ename == "CheckFailed"
    assert shown.startswith("FAIL mse_forward: mytorch/nn/loss.py, line 2: syntax error")
    assert "tester.py" not in shown and "Traceback" not in shown
    assert shown.splitlines()[-1].startswith('Try it on fresh random inputs: check("mse_forward", seed=')


@pytest.mark.parametrize("module", ["random", "time", "math", "statistics", "itertools", "collections"])
def test_harmless_standard_library_modules_are_allowed(module):
    assert module in STDLIB_MODULES
    assert check_source(f"import {module}\nimport numpy as np\n", "f.py") == []


@pytest.mark.parametrize("module", ["os", "sys", "io", "pathlib", "shutil", "subprocess", "importlib", "builtins",
                                    "inspect", "ctypes", "gc", "pickle", "socket", "threading", "multiprocessing",
                                    "tempfile", "types", "traceback", "runpy", "signal", "torch", "scipy"])
def test_file_process_and_import_machinery_modules_are_refused(module):
    found = check_source(f"import {module}\n", "f.py")
    assert found and f"imports {module!r}" in found[0].message


def test_the_student_readme_states_the_policy_from_its_one_source(released_course):
    from coursekit.runtime.checks.policy import describe

    readme = (released_course.folder("release", "hw1") / "README.md").read_text()
    assert describe(HW1.allowed_modules, HW1.package) in readme
    assert "`random`" in readme and "`os`" not in readme


def test_a_hanging_item_is_stopped_and_the_prediction_goes_on(student):
    course, _ = student
    folder = copy_release(course.folder("release", "hw1"), course.folder("submitted", "hw1", "loops"))
    hand_in_reference(HW1, course.repo, folder)
    path = folder / "mytorch/nn/activation.py"
    text = path.read_text()
    path.write_text(text.replace("        self.A = np.tanh(H)\n", "        while True:\n            pass\n", 1))
    proc = in_student_folder(folder, """
import json
from pathlib import Path
from coursekit.runtime.checks import shipped_facts
from coursekit.runtime.handin.prediction import Prediction
print("RESULT" + json.dumps(Prediction(Path.cwd(), shipped_facts()["items"], item_seconds=8).results()))
""")
    results = {r["grade_id"]: r for r in json.loads(proc.stdout.split("RESULT", 1)[1])}
    assert not results["tanh"]["ok"] and "stopped after 8 s" in results["tanh"]["message"]
    assert [g for g, r in results.items() if not r["ok"]] == ["tanh"]  # relu and the MLPs still ran


def test_plots_still_get_the_library_when_one_file_is_broken(student):
    """load_mytorch (plots, training demos) replaces a rule-breaking file by its stub, as the grader does."""
    _, folder = student
    proc = in_student_folder(folder, """
import numpy as np
from coursekit.runtime.checks.tester import load_mytorch
mt = load_mytorch()
print("TANH", mt.nn.Tanh().forward(np.zeros((1, 2))).tolist())
try:
    mt.nn.MSELoss().forward(np.zeros((1, 2)), np.zeros((1, 2)))
except NotImplementedError:
    print("STUB")
""")
    assert "mytorch/nn/loss.py, line 2" in proc.stdout and "replaced by the released stub" in proc.stdout
    assert "TANH [[0.0, 0.0]]" in proc.stdout and "STUB" in proc.stdout, proc.stdout + proc.stderr
