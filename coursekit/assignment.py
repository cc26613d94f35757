"""The facts of an assignment that every stage of the pipeline shares.

hw1's are taken from the course's spec: which files students edit, which
notebooks test them, and the points of every graded item (by grade id).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


LINEAR, LOSS, ACTIVATION, SGD, MLP = (
    "mytorch/nn/linear.py", "mytorch/nn/loss.py", "mytorch/nn/activation.py",
    "mytorch/optim/sgd.py", "mytorch/models/mlp.py")


@dataclass(frozen=True)
class Item:
    grade_id: str
    points: int
    notebook: str
    # The student files whose code this item runs: a file that breaks the
    # rules costs exactly these items, and a broken file costs no others.
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assignment:
    name: str
    notebooks: tuple[str, ...]
    items: tuple[Item, ...]
    # Library files students hand in (relative to the assignment folder).
    student_files: tuple[str, ...]
    # Library files students receive but may not change (restored at grading).
    library_files: tuple[str, ...]
    # Parts of the kit that ship next to the notebooks (relative to the repo).
    shipped_modules: tuple[str, ...]
    fixtures: tuple[str, ...]

    @property
    def total_points(self) -> int:
        return sum(item.points for item in self.items)

    def item(self, grade_id: str) -> Item:
        for item in self.items:
            if item.grade_id == grade_id:
                return item
        raise KeyError(f"{self.name} has no graded item {grade_id!r}")

    def items_of(self, notebook: str) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.notebook == notebook)


HW1 = Assignment(
    name="hw1",
    notebooks=("LinearTester", "LossTester", "SGDTester", "ActivationTester", "MLPTester", "TrainingTester"),
    items=(
        Item("linear_init", 1, "LinearTester", (LINEAR,)),
        Item("linear_forward", 2, "LinearTester", (LINEAR,)),
        Item("linear_backward", 4, "LinearTester", (LINEAR,)),
        Item("mse_forward", 2, "LossTester", (LOSS,)),
        Item("mse_backward", 2, "LossTester", (LOSS,)),
        Item("ce_forward", 2, "LossTester", (LOSS,)),
        Item("ce_backward", 2, "LossTester", (LOSS,)),
        Item("sgd_step", 2, "SGDTester", (SGD,)),
        Item("sigmoid", 2, "ActivationTester", (ACTIVATION,)),
        Item("tanh", 2, "ActivationTester", (ACTIVATION,)),
        Item("relu", 2, "ActivationTester", (ACTIVATION,)),
        Item("mlp0", 4, "MLPTester", (LINEAR, ACTIVATION, MLP)),
        Item("mlp1", 4, "MLPTester", (LINEAR, ACTIVATION, MLP)),
        Item("mlp4", 4, "MLPTester", (LINEAR, ACTIVATION, MLP)),
    ),
    student_files=(LINEAR, LOSS, ACTIVATION, SGD, MLP),
    library_files=(
        "mytorch/__init__.py",
        "mytorch/nn/__init__.py",
        "mytorch/optim/__init__.py",
        "mytorch/models/__init__.py",
    ),
    shipped_modules=(
        "coursekit/checks/__init__.py",
        "coursekit/checks/hw1.py",
        "coursekit/checks/tester.py",
        "coursekit/datasets.py",
        # `python handin.py`: run the testers, write the zip and the PDF (see coursekit/handin)
        "coursekit/handin/__init__.py",
        "coursekit/handin/browser.py",
        "coursekit/handin/bundle.py",
        "coursekit/handin/cli.py",
        "coursekit/handin/document.py",
        "coursekit/handin/pdf.py",
        "coursekit/handin/run.py",
        "coursekit/handin/spec.py",
        "coursekit/training.py",
        "coursekit/viz.py",
    ),
    fixtures=("data/testerData.npz",),
)

HW1_TOTAL_POINTS = 35  # stated by the spec; the validator holds the items to it

ASSIGNMENTS = {"hw1": HW1}


def get_assignment(name: str) -> Assignment:
    try:
        return ASSIGNMENTS[name]
    except KeyError:
        raise KeyError(f"unknown assignment {name!r}; known: {', '.join(ASSIGNMENTS)}") from None
