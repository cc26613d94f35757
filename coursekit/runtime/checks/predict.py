"""``python -m coursekit.runtime.checks.predict``: the grade the student's folder predicts, item by item.

``handin.py`` runs this in the assignment folder, in a process of its own.
Each graded item gets what the grader gives it — the course's rules on its
files (or its notebook cell, as saved), the library rebuilt around the files
that can run — and then its visible case and a few fresh random cases (new
seeds and shapes every run).  The hidden cases are the grader's alone, so a
prediction can only say: these pass; the hidden cases decide the grade.

One JSON line per item goes to the original standard output as each item
finishes (the student's own prints go to standard error), so the caller can
stop a hanging item and start again after it with ``--skip``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import warnings
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from coursekit.runtime.checks import fixture_case, default_fixture, get
from coursekit.runtime.checks.library import run_cell
from coursekit.runtime.checks.tester import Outcome, Work, retry_line, run_cases, saved_cell, student_frames

RANDOM_CASES = 3


def predict(work: Work, folder: Path, cases: int = RANDOM_CASES, skip: frozenset[str] = frozenset()) -> Iterator[dict]:
    """Per autograded item: {grade_id, points, ok, case, message, retry}."""
    for grade_id, item in work.items.items():
        if item.get("manual") or grade_id in skip:
            continue
        yield predict_item(work, folder, grade_id, item, cases)


def predict_item(work: Work, folder: Path, grade_id: str, item: dict, cases: int) -> dict[str, Any]:
    check = get(grade_id)
    namespace = None
    if item.get("cell"):
        namespace, outcome = _cell_namespace(work, folder, item)
        if outcome is not None:
            return result(grade_id, item["points"], "the notebook cell", outcome, retry_line(check, None, {}))
    seeds = [random.randrange(1, 100_000) for _ in range(cases)]

    def inputs_and_references() -> Iterator[tuple[dict, dict]]:
        yield fixture_case(grade_id, folder / default_fixture())
        for seed in seeds:
            inputs = check.inputs(seed)
            yield inputs, check.reference(inputs) if check.reference else {}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, outcome in enumerate(run_cases(check, inputs_and_references(), work, folder, namespace)):
            if not outcome.ok:
                case, retry = ("visible case", retry_line(check, None, {})) if k == 0 else \
                    (f"random case (seed {seeds[k - 1]})", retry_line(check, seeds[k - 1], {}))
                return result(grade_id, item["points"], case, outcome, retry)
    return result(grade_id, item["points"], "", Outcome(True, f"visible case and {cases} random cases pass"), "")


def _cell_namespace(work: Work, folder: Path, item: dict) -> tuple[Any, Outcome | None]:
    """The item's notebook cell, as saved, run on its own as the grader runs it."""
    where = f"{item['notebook']}.ipynb, cell {item['cell']}"
    problems = work.cell_problems(item["grade_id"], folder)
    if problems:
        return None, Outcome(False, "; ".join(problems))
    source = saved_cell(folder / f"{item['notebook']}.ipynb", item["cell"])
    if source is None:
        return None, Outcome(False, f"{where}: not found in the saved notebook")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run_cell(source, where), None
    except BaseException as exc:  # noqa: BLE001 - the student's cell, whatever it raises
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, Outcome(False, f"running {where} failed: {type(exc).__name__}: {exc}",
                             frames=student_frames(exc, work.package))


def result(grade_id: str, points: float, case: str, outcome: Outcome, retry: str = "") -> dict[str, Any]:
    """One item's prediction, as handin.py reads it: the case that failed ("" if none did), why,
    the student's frames and the line that reruns it."""
    return {"grade_id": grade_id, "points": points, "ok": outcome.ok, "case": case,
            "message": outcome.message, "frames": outcome.frames, "retry": retry}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m coursekit.runtime.checks.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=RANDOM_CASES, help="fresh random cases per item")
    p.add_argument("--skip", action="append", default=[], help="an item already predicted (repeatable)")
    args = p.parse_args(argv)
    work = Work.shipped()
    if work is None:
        print("predict: not a released assignment folder (no coursekit/runtime/checks/assignment.json)",
              file=sys.stderr)
        return 2
    folder = Path.cwd()
    sys.path.insert(0, str(folder))
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever the student's code prints must not look like a result
    for result in predict(work, folder, args.cases, frozenset(args.skip)):
        out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
