"""A small synthetic course for the kit's own tests, written into a temporary folder.

The kit's grading, sandbox, hostile-input, collect and platform tests grade this course, not
the repo's assignments: editing hw1 can then never break a security test, and a kit test never
needs PyTorch (every reference here is numpy).  It is rich enough for the hostile set:

* ``kitlib/`` — a library package with five student files and two given ``__init__`` files;
  the MLP items run three files (linear.py, activation.py, mlp.py), so "a broken file costs
  exactly its items" is tested where items share files;
* six notebooks: five testers and one ungraded notebook; every graded cell has hidden cases;
* a notebook-cell code item (``slope``), a written item graded by hand (``why``);
* the fixture ``data/kit1/testerData.npz``, written by the kit's own fixture builder;
* ``samples.py`` with typical mistakes (``BUGS``), so ``make_samples`` works;
* points adding up to 20.

The builder pieces (:func:`nbgrader_meta`, :func:`graded_cell`, :func:`write_notebook`,
:func:`write_settings`) also build the one-assignment courses of other test modules.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.assignment import Assignment, load_assignment
from coursekit.course import Course

NAME = "kit1"
PACKAGE = "kitlib"
LINEAR, LOSS, ACT, SGD, MLP = (f"kitlib/{p}.py" for p in ("nn/linear", "nn/loss", "nn/activation", "sgd", "mlp"))
FIXTURE = f"data/{NAME}/testerData.npz"

DECLARATION = f'''# A synthetic assignment for the kit's tests (tests/kitcourse.py writes it).
title = "Kit course"
notebooks = ["LinearTester", "LossTester", "SGDTester", "ActivationTester", "MLPTester", "Playground"]
checks = "source/{NAME}/checks.py"
fixture = "{FIXTURE}"
samples = "source/{NAME}/samples.py"
total_points = 20

[library]
package = "kitlib"
[library.student]
"{LINEAR}" = ["Linear"]
"{LOSS}" = ["MSELoss"]
"{ACT}" = ["Identity", "Sigmoid", "Tanh", "ReLU"]
"{SGD}" = ["SGD"]
"{MLP}" = ["MLP", "MLP0", "MLP1"]
[library.given]
files = ["kitlib/__init__.py", "kitlib/nn/__init__.py"]

[policy]
modules = ["numpy"]

[[items]]
grade_id = "linear_init"
points = 1
notebook = "LinearTester"
files = ["{LINEAR}"]

[[items]]
grade_id = "linear_forward"
points = 2
notebook = "LinearTester"
files = ["{LINEAR}"]

[[items]]
grade_id = "linear_backward"
points = 3
notebook = "LinearTester"
files = ["{LINEAR}"]

[[items]]
grade_id = "mse_forward"
points = 1
notebook = "LossTester"
files = ["{LOSS}"]

[[items]]
grade_id = "mse_backward"
points = 1
notebook = "LossTester"
files = ["{LOSS}"]

[[items]]
grade_id = "sgd_step"
points = 2
notebook = "SGDTester"
files = ["{SGD}"]

[[items]]
grade_id = "sigmoid"
points = 1
notebook = "ActivationTester"
files = ["{ACT}"]

[[items]]
grade_id = "tanh"
points = 1
notebook = "ActivationTester"
files = ["{ACT}"]

[[items]]
grade_id = "relu"
points = 1
notebook = "ActivationTester"
files = ["{ACT}"]

[[items]]
grade_id = "mlp0"
points = 2
notebook = "MLPTester"
files = ["{LINEAR}", "{ACT}", "{MLP}"]

[[items]]
grade_id = "mlp1"
points = 2
notebook = "MLPTester"
files = ["{LINEAR}", "{ACT}", "{MLP}"]

[[items]]
grade_id = "slope"
points = 2
notebook = "MLPTester"
cell = "slope_code"

[[written]]
grade_id = "why"
points = 1
notebook = "MLPTester"
'''

LIBRARY = {
    "kitlib/__init__.py": '"""kitlib: a tiny numpy network library."""\nfrom kitlib import nn\n'
                          "from kitlib.mlp import MLP, MLP0, MLP1\nfrom kitlib.sgd import SGD\n",
    "kitlib/nn/__init__.py": "from kitlib.nn.activation import Identity, ReLU, Sigmoid, Tanh\n"
                             "from kitlib.nn.linear import Linear\nfrom kitlib.nn.loss import MSELoss\n",
    LINEAR: '''import numpy as np


class Linear:
    """O = A W + b, with A (N, d), W (d, h), b (h,)."""

    def __init__(self, num_inputs: int, num_outputs: int):
        """W ~ Normal(0, 0.1^2), b = zeros."""
        ### BEGIN SOLUTION
        self.W = np.random.normal(0.0, 0.1, size=(num_inputs, num_outputs))
        self.b = np.zeros(num_outputs)
        ### END SOLUTION

    def forward(self, A: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        self.A = A
        return A @ self.W + self.b.reshape(1, -1)
        ### END SOLUTION

    def backward(self, dLdO: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        self.dLdW = self.A.T @ dLdO
        self.dLdb = dLdO.sum(axis=0)
        return dLdO @ self.W.T
        ### END SOLUTION
''',
    LOSS: '''import numpy as np


class MSELoss:
    """Mean of squared errors over all entries."""

    def forward(self, O: np.ndarray, Y: np.ndarray) -> float:
        ### BEGIN SOLUTION
        self.O, self.Y = O, Y
        return float(np.mean((O - Y) ** 2))
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        ### BEGIN SOLUTION
        return 2 * (self.O - self.Y) / self.O.size
        ### END SOLUTION
''',
    ACT: '''import numpy as np


class Identity:
    """A = H. Given to you: the pattern for the others."""

    def forward(self, H: np.ndarray) -> np.ndarray:
        self.H = H
        return H

    def backward(self) -> np.ndarray:
        return np.ones_like(self.H)


class Sigmoid:
    def forward(self, H: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        self.H = H
        e = np.exp(-np.abs(H))
        self.A = np.where(H >= 0, 1 / (1 + e), e / (1 + e))
        return self.A
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        ### BEGIN SOLUTION
        return self.A * (1 - self.A)
        ### END SOLUTION


class Tanh:
    def forward(self, H: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        self.H = H
        self.A = np.tanh(H)
        return self.A
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        ### BEGIN SOLUTION
        return 1 - self.A**2
        ### END SOLUTION


class ReLU:
    def forward(self, H: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        self.H = H
        return np.maximum(H, 0)
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        ### BEGIN SOLUTION
        return (self.H > 0).astype(float)
        ### END SOLUTION
''',
    SGD: '''class SGD:
    """W <- W - lr dLdW, b <- b - lr dLdb for every layer."""

    def __init__(self, model, lr: float = 0.1):
        ### BEGIN SOLUTION
        self.layers = model.layers if hasattr(model, "layers") else [model]
        self.lr = lr
        ### END SOLUTION

    def step(self) -> None:
        ### BEGIN SOLUTION
        for layer in self.layers:
            layer.W -= self.lr * layer.dLdW
            layer.b -= self.lr * layer.dLdb.reshape(layer.b.shape)
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Kept so PyTorch-style loops run."""
''',
    MLP: '''import numpy as np

from kitlib.nn.activation import Identity, ReLU
from kitlib.nn.linear import Linear


class MLP:
    """Linear layers in ``layers``, one activation per layer in ``f``."""

    def forward(self, A: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        for layer, f in zip(self.layers, self.f):
            A = f.forward(layer.forward(A))
        return A
        ### END SOLUTION

    def backward(self, dLdA: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        for layer, f in zip(reversed(self.layers), reversed(self.f)):
            dLdA = layer.backward(dLdA * f.backward())
        return dLdA
        ### END SOLUTION


class MLP0(MLP):
    def __init__(self, num_inputs: int, num_outputs: int):
        ### BEGIN SOLUTION
        self.layers = [Linear(num_inputs, num_outputs)]
        self.f = [Identity()]
        ### END SOLUTION


class MLP1(MLP):
    def __init__(self, num_inputs: int, num_outputs: int, num_hidden: int):
        ### BEGIN SOLUTION
        self.layers = [Linear(num_inputs, num_hidden), Linear(num_hidden, num_outputs)]
        self.f = [ReLU(), Identity()]
        ### END SOLUTION
''',
}

# Every reference is numpy, written from the maths, never from kitlib.
CHECKS = '''"""The kit course's checks: run_* touch the student's library, ref_* compute by hand."""
from types import SimpleNamespace

import numpy as np

from coursekit.runtime.checks import Check, Checks, Verdict, as_array, dim

checks = Checks()


def inputs_linear_init(rng, shape):
    return {"d": np.array(dim(shape, "d", rng, 200, 300)), "h": np.array(dim(shape, "h", rng, 200, 300)),
            "seed": np.array(int(rng.integers(0, 2**31)))}


def run_linear_init(mt, x):
    np.random.seed(int(x["seed"]))
    layer = mt.nn.Linear(int(x["d"]), int(x["h"]))
    return {"W": layer.W, "b": layer.b}


def compare_linear_init(out, x):
    d, h = int(x["d"]), int(x["h"])
    try:
        W, b = as_array(out.get("W")), as_array(out.get("b"))
    except ValueError as exc:
        return Verdict(False, f"W or b: {exc}", "not numeric")
    if W.shape != (d, h) or b.size != h or np.any(b != 0):
        return Verdict(False, f"W: shape {W.shape}, expected {(d, h)}; b must be {h} zeros", "wrong shape")
    # Ten standard errors wide: a correct initialisation never fails.
    if abs(W.mean()) > 1.0 / np.sqrt(W.size) or abs(W.std() - 0.1) > 1.0 / np.sqrt(2 * W.size):
        return Verdict(False, f"W: mean {W.mean():.4f}, std {W.std():.4f}, expected 0 and 0.1", "W: wrong values")
    return Verdict(True, f"W: mean {W.mean():.4f}, std {W.std():.4f}; b zeros")


checks.add(Check("linear_init", "Linear.__init__", inputs_linear_init, run_linear_init,
                 compare=compare_linear_init))


def inputs_linear(rng, shape):
    N, d, h = dim(shape, "N", rng), dim(shape, "d", rng), dim(shape, "h", rng)
    return {"A": rng.standard_normal((N, d)), "W": rng.standard_normal((d, h)),
            "b": rng.standard_normal(h), "dLdO": rng.standard_normal((N, h))}


def _layer(mt, x):
    layer = mt.nn.Linear(*x["W"].shape)
    layer.W, layer.b = x["W"].copy(), x["b"].copy()
    return layer


def run_linear_forward(mt, x):
    return {"O": _layer(mt, x).forward(x["A"].copy())}


def run_linear_backward(mt, x):
    layer = _layer(mt, x)
    layer.forward(x["A"].copy())
    dLdA = layer.backward(x["dLdO"].copy())
    return {"dLdA": dLdA, "dLdW": layer.dLdW, "dLdb": layer.dLdb}


checks.add(Check("linear_forward", "Linear.forward", inputs_linear, run_linear_forward,
                 lambda x: {"O": x["A"] @ x["W"] + x["b"]}))
checks.add(Check("linear_backward", "Linear.backward", inputs_linear, run_linear_backward,
                 lambda x: {"dLdA": x["dLdO"] @ x["W"].T, "dLdW": x["A"].T @ x["dLdO"],
                            "dLdb": x["dLdO"].sum(axis=0)}, flat=frozenset({"dLdb"})))


def inputs_loss(rng, shape):
    N, q = dim(shape, "N", rng), dim(shape, "q", rng)
    return {"O": rng.standard_normal((N, q)), "Y": rng.standard_normal((N, q))}


def _run_mse(backward):
    def run(mt, x):
        loss = mt.nn.MSELoss()
        L = loss.forward(x["O"].copy(), x["Y"].copy())
        return {"dLdO": loss.backward()} if backward else {"L": L}
    return run


checks.add(Check("mse_forward", "MSELoss.forward", inputs_loss, _run_mse(False),
                 lambda x: {"L": np.array(((x["O"] - x["Y"]) ** 2).mean())}))
checks.add(Check("mse_backward", "MSELoss.backward", inputs_loss, _run_mse(True),
                 lambda x: {"dLdO": 2 * (x["O"] - x["Y"]) / x["O"].size}))


def inputs_sgd(rng, shape):
    d, h = dim(shape, "d", rng), dim(shape, "h", rng)
    x = {"lr": np.array(rng.uniform(0.01, 0.5))}
    for i in range(2):
        x |= {f"W{i}": rng.standard_normal((d, h)), f"b{i}": rng.standard_normal(h),
              f"dLdW{i}": rng.standard_normal((d, h)), f"dLdb{i}": rng.standard_normal(h)}
    return x


def run_sgd_step(mt, x):
    # Plain objects stand in for Linear, so a broken Linear does not cost SGD's points.
    layers = [SimpleNamespace(W=x[f"W{i}"].copy(), b=x[f"b{i}"].copy()) for i in range(2)]
    opts = [mt.SGD(layers[0], lr=float(x["lr"])), mt.SGD(SimpleNamespace(layers=layers[1:]), lr=float(x["lr"]))]
    for i, layer in enumerate(layers):
        layer.dLdW, layer.dLdb = x[f"dLdW{i}"].copy(), x[f"dLdb{i}"].copy()
    for opt in opts:
        opt.step()
    return {f"{p}{i}": getattr(layer, p) for i, layer in enumerate(layers) for p in "Wb"}


checks.add(Check("sgd_step", "SGD.step", inputs_sgd, run_sgd_step,
                 lambda x: {f"{p}{i}": x[f"{p}{i}"] - x["lr"] * x[f"dLd{p}{i}"] for i in range(2) for p in "Wb"},
                 flat=frozenset({"b0", "b1"})))


def inputs_activation(rng, shape):
    N, q = dim(shape, "N", rng), dim(shape, "q", rng)
    H = 2 * rng.standard_normal((N, q))
    H[rng.random((N, q)) < 0.2] = 0.0  # exact zeros pin down ReLU's derivative at 0
    return {"H": H}


def _run_activation(name):
    def run(mt, x):
        f = getattr(mt.nn, name)()
        A = f.forward(x["H"].copy())
        return {"A": A, "dAdH": f.backward()}
    return run


def _sigmoid(H):
    A = 1 / (1 + np.exp(-H))
    return {"A": A, "dAdH": A * (1 - A)}


checks.add(Check("sigmoid", "Sigmoid", inputs_activation, _run_activation("Sigmoid"), lambda x: _sigmoid(x["H"])))
checks.add(Check("tanh", "Tanh", inputs_activation, _run_activation("Tanh"),
                 lambda x: {"A": np.tanh(x["H"]), "dAdH": 1 / np.cosh(x["H"]) ** 2}))
checks.add(Check("relu", "ReLU", inputs_activation, _run_activation("ReLU"),
                 lambda x: {"A": np.where(x["H"] > 0, x["H"], 0.0), "dAdH": (x["H"] > 0) * 1.0}))


def _inputs_mlp(hidden):
    def make(rng, shape):
        N, d, o = dim(shape, "N", rng), dim(shape, "d", rng), dim(shape, "o", rng)
        sizes = [d, dim(shape, "h", rng), o] if hidden else [d, o]
        x = {"X": rng.standard_normal((N, d)), "dLdA": rng.standard_normal((N, o))}
        for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
            x |= {f"W{i}": rng.standard_normal((m, n)), f"b{i}": rng.standard_normal(n)}
        return x
    return make


def _run_mlp(name):
    def run(mt, x):
        shapes = [x[f"W{i}"].shape for i in range(2) if f"W{i}" in x]
        sizes = (shapes[0][0], shapes[-1][1]) + ((shapes[0][1],) if len(shapes) > 1 else ())
        model = getattr(mt, name)(*sizes)
        for i, layer in enumerate(model.layers):
            layer.W, layer.b = x[f"W{i}"].copy(), x[f"b{i}"].copy()
        out = {"O": model.forward(x["X"].copy()), "dLdX": model.backward(x["dLdA"].copy())}
        for i, layer in enumerate(model.layers):
            out |= {f"dLdW{i}": layer.dLdW, f"dLdb{i}": layer.dLdb}
        return out
    return run


def ref_mlp(x):
    layers = [(x[f"W{i}"], x[f"b{i}"]) for i in range(2) if f"W{i}" in x]
    A, inputs, masks = x["X"], [], []
    for k, (W, b) in enumerate(layers):
        inputs.append(A)
        H = A @ W + b
        last = k == len(layers) - 1
        masks.append(np.ones_like(H) if last else (H > 0) * 1.0)
        A = H if last else np.maximum(H, 0)
    out, dLdA = {"O": A}, x["dLdA"]
    for k in reversed(range(len(layers))):
        dLdH = dLdA * masks[k]
        out |= {f"dLdW{k}": inputs[k].T @ dLdH, f"dLdb{k}": dLdH.sum(axis=0)}
        dLdA = dLdH @ layers[k][0].T
    return out | {"dLdX": dLdA}


checks.add(Check("mlp0", "MLP0", _inputs_mlp(False), _run_mlp("MLP0"), ref_mlp, flat=frozenset({"dLdb0"})))
checks.add(Check("mlp1", "MLP1", _inputs_mlp(True), _run_mlp("MLP1"), ref_mlp,
                 flat=frozenset({"dLdb0", "dLdb1"})))


def inputs_slope(rng, shape):
    return {"x": rng.standard_normal(dim(shape, "n", rng))}


checks.add(Check("slope", "slope", inputs_slope, lambda nb, x: {"g": nb.slope(x["x"].copy())},
                 lambda x: {"g": 3.0 * x["x"] ** 2}, runs="cell"))
'''

SAMPLES = f'''"""Typical mistakes of the kit course: (file, correct text, buggy text, items lost)."""

BUGS = (
    ("{ACT}", "return 1 - self.A**2", "return 1 - self.A", ("tanh",)),
    ("{LOSS}", "return 2 * (self.O - self.Y) / self.O.size", "return (self.O - self.Y) / self.O.size",
     ("mse_backward",)),
    ("{LINEAR}", "self.W = np.random.normal(0.0, 0.1, size=(num_inputs, num_outputs))",
     "self.W = np.random.uniform(-0.1, 0.1, size=(num_inputs, num_outputs))", ("linear_init",)),
    ("MLPTester.ipynb", "return 3 * x ** 2", "return 3 * x", ("slope",)),
)
'''
# Each buggy item, its points: the buggy sample's expected score, worked out by hand.
BUGGY_LOST = {"tanh": 1, "mse_backward": 1, "linear_init": 1, "slope": 2}

SLOPE_CELL = '''import numpy as np


def slope(x):
    """The derivative of x ** 3."""
    ### BEGIN SOLUTION
    return 3 * x ** 2
    ### END SOLUTION
'''
MODEL_ANSWER = "A ReLU passes gradient only where its input was positive."

# notebook -> [(grade id, points, hidden cases as check() keyword strings)]
TESTS: dict[str, list[tuple[str, int, tuple[str, ...]]]] = {
    "LinearTester": [("linear_init", 1, ("seed=101", "seed=102, d=3, h=2")),
                     ("linear_forward", 2, ("seed=201, N=6, d=7, h=3", "seed=202, N=1, d=1, h=1")),
                     ("linear_backward", 3, ("seed=301, N=6, d=7, h=3", "seed=302, N=1, d=2, h=5"))],
    "LossTester": [("mse_forward", 1, ("seed=401, N=5, q=3",)), ("mse_backward", 1, ("seed=501, N=1, q=7",))],
    "SGDTester": [("sgd_step", 2, ("seed=601, d=4, h=3",))],
    "ActivationTester": [(g, 1, (f"seed={s}, N=4, q=6", f"seed={s + 1}, N=1, q=1"))
                         for g, s in (("sigmoid", 701), ("tanh", 801), ("relu", 901))],
    "MLPTester": [("mlp0", 2, ("seed=1001, N=6, d=7, o=3",)), ("mlp1", 2, ("seed=1101, N=6, d=7, h=11, o=3",))],
}


def nbgrader_meta(grade_id: str, *, grade: bool = False, solution: bool = False,
                  points: int | None = None) -> dict:
    """A cell's nbgrader metadata, as nbgrader's create_assignment writes it."""
    m = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
         "solution": solution, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def graded_cell(grade_id: str, points: int, hidden: tuple[str, ...] = ("seed=1, n=5",)) -> nbformat.NotebookNode:
    """A graded test cell: the visible check, then hidden cases (one ``check`` per keyword string)."""
    lines = [f'check("{grade_id}")', "### BEGIN HIDDEN TESTS"]
    lines += [f'check("{grade_id}", {kw})' for kw in hidden] + ["### END HIDDEN TESTS"]
    return new_code_cell("\n".join(lines), metadata=nbgrader_meta(grade_id, grade=True, points=points))


def write_notebook(path: Path, cells: list) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def write_settings(root: Path) -> None:
    """nbgrader_config.py naming the course and nothing else: the gradebook is nbgrader's default,
    ``gradebook.db`` in the course root (a relative ``db_url`` would follow the current directory)."""
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "test"\n')


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _setup_cell(notebook: str) -> nbformat.NotebookNode:
    return new_code_cell("import numpy as np\nfrom coursekit.runtime.checks.tester import check",
                         metadata=nbgrader_meta(f"setup_{notebook.lower()}"))


def tester_cells(notebook: str) -> list:
    cells = [new_markdown_cell(f"# {notebook}\n\nEdit the files of `kitlib/`, then run the checks."),
             _setup_cell(notebook)]
    for grade_id, points, hidden in TESTS.get(notebook, []):
        cells += [new_markdown_cell(f"## `{grade_id}` — {points} points"), graded_cell(grade_id, points, hidden)]
    if notebook == "MLPTester":
        cells += [new_markdown_cell("## `slope(x)`, the derivative of x³ — 2 points"),
                  new_code_cell(SLOPE_CELL, metadata=nbgrader_meta("slope_code", solution=True)),
                  graded_cell("slope", 2, ("seed=1201, n=5", "seed=1202, n=1")),
                  new_markdown_cell("Why does MLP1's gradient vanish for some inputs? — 1 point"),
                  new_markdown_cell(f"### BEGIN SOLUTION\n{MODEL_ANSWER}\n### END SOLUTION",
                                    metadata=nbgrader_meta("why", grade=True, solution=True, points=1))]
    return cells


def write_course(root: Path) -> Course:
    """The kit course's sources in ``root`` (a new folder): library, declaration, checks, samples,
    notebooks, fixture and nbgrader settings; nothing released."""
    from coursekit.fixtures import build, write_npz

    root = Path(root)
    write_files(root, LIBRARY)
    src = root / "source" / NAME
    write_files(src, {"assignment.toml": DECLARATION, "checks.py": CHECKS, "samples.py": SAMPLES})
    for notebook in TESTS:
        write_notebook(src / f"{notebook}.ipynb", tester_cells(notebook))
    write_notebook(src / "Playground.ipynb", [
        new_markdown_cell("# Playground\n\nTry your layers here; nothing in this notebook is graded."),
        new_code_cell("import kitlib\nprint(kitlib.nn.Identity().forward(1.0))")])
    write_settings(root)
    assignment = load_assignment(root, NAME)
    write_npz(root / FIXTURE, build(assignment, root))
    return Course(root)


def release_course(root: Path) -> Course:
    """The kit course written in ``root`` and released with real nbgrader."""
    from coursekit.release import release

    course = write_course(root)
    release(course.assignment(NAME), course)
    return course


def auto_totals(scores: dict[str, dict[str, float | None]]) -> dict[str, float]:
    """Each student's autograded points, from gradebook scores (``item_scores``): the written item
    is left out, as it is None while it awaits a TA (or 0 when left blank)."""
    return {s: sum(v[i.grade_id] for i in KIT1.auto_items) for s, v in scores.items()}


def assignment_of(course: Course) -> Assignment:
    return course.assignment(NAME)


def declared() -> Assignment:
    """The kit course's assignment, as its declaration states it (read from a scratch folder,
    so that test modules know it at import time, before any course is written).

    The folder lives as long as the process: an Assignment keeps its declaration's path, and the
    grader's digest reads the declaration there.  Deleted, it reads as missing, and a hand-in graded
    in-process with KIT1 would never count as unchanged for `course autograde kit1` (which reads the
    course's own, identical, declaration), nor the other way round."""
    import atexit
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="kit1-declaration-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    write_files(tmp / "source" / NAME, {"assignment.toml": DECLARATION})
    return load_assignment(tmp, NAME)


KIT1 = declared()
