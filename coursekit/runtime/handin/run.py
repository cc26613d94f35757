"""Run every tester notebook fresh and say, per graded cell, whether its check passed.

Each notebook gets its own kernel with the released folder as working
directory, as "Restart & Run All" would.  A cell that raises does not stop
the notebook (its error is part of what the student hands in); a notebook
that hangs or kills its kernel keeps the outputs it had, and says so.
"""
from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from coursekit.runtime.handin.spec import HandinSpec

PASS, FAIL, NOT_RUN = "pass", "fail", "not run"
MAX_MESSAGE = 300
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Kernels run side by side: one BLAS/OpenMP thread each keeps them from
# fighting over the same cores (the testers' matrices are small anyway).
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}


@dataclass
class GradedCell:
    grade_id: str
    points: float
    status: str  # PASS, FAIL or NOT_RUN
    message: str = ""


@dataclass
class NotebookRun:
    name: str
    notebook: Any = None  # the executed nbformat NotebookNode; None if it could not be read
    seconds: float = 0.0
    graded: list[GradedCell] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # ungraded cells that raised
    problem: str = ""  # why the notebook could not run to its end
    edited: list[str] = field(default_factory=list)  # graded cells whose source was changed

    @property
    def points(self) -> float:
        return sum(c.points for c in self.graded if c.status == PASS)

    @property
    def total(self) -> float:
        return sum(c.points for c in self.graded)

    @property
    def ok(self) -> bool:
        return not self.problem and not self.errors and all(c.status == PASS for c in self.graded)

    def summary(self) -> dict[str, Any]:
        """What the zip's handin.json records about this notebook."""
        return {"points": self.points, "total": self.total, "seconds": round(self.seconds, 1),
                "checks": {c.grade_id: c.status for c in self.graded},
                "errors": len(self.errors), "problem": self.problem}


def run_notebooks(folder: Path, spec: HandinSpec, *, timeout: float = 600,
                  jobs: int | None = None, order: list[str] | None = None,
                  on_done: Callable[[NotebookRun], None] | None = None) -> list[NotebookRun]:
    """Execute every notebook of ``spec`` in ``folder``; results in the spec's order.

    ``order``: the order to start them in (slowest first finishes soonest);
    ``on_done`` is called as each finishes."""
    names = list(order or spec.notebooks)
    names += [n for n in spec.notebooks if n not in names]
    jobs = max(1, min(jobs or default_jobs(), len(names)))
    results = asyncio.run(_run_all(folder, names, timeout, jobs, on_done))
    return [results[n] for n in spec.notebooks]


def default_jobs() -> int:
    # Two kernels keep two cores busy; more than four mostly costs memory (~300 MB each).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(2, min(cores, 4))


async def _run_all(folder: Path, names: list[str], timeout: float, jobs: int,
                   on_done: Callable[[NotebookRun], None] | None) -> dict[str, NotebookRun]:
    gate = asyncio.Semaphore(jobs)
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if jobs > 1:
        env.update({k: v for k, v in ONE_THREAD.items() if k not in os.environ})
    results: dict[str, NotebookRun] = {}

    async def one(name: str) -> None:
        async with gate:
            results[name] = await run_notebook(folder, name, timeout, env)
        if on_done:
            on_done(results[name])

    await asyncio.gather(*(one(n) for n in names))
    return results


async def run_notebook(folder: Path, name: str, timeout: float, env: dict[str, str]) -> NotebookRun:
    import nbformat
    from nbclient import NotebookClient

    run = NotebookRun(name)
    path = folder / f"{name}.ipynb"
    start = time.monotonic()
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        run.problem = f"{path.name} is missing"
        return run
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        run.problem = f"{path.name} is not a readable notebook ({_one_line(exc)})"
        return run
    run.edited = edited_graded_cells(nb)
    _clear_outputs(nb)  # cells a crash never reaches must not keep outputs of an older run
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            shutdown_kernel="immediate", resources={"metadata": {"path": str(folder)}})
    # The kernel's own chatter (transport warnings, crash dumps) goes to a log, shown if it dies.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        try:
            await asyncio.wait_for(client.async_execute(env=env, stderr=log), timeout)
        except TimeoutError:
            run.problem = f"stopped after {timeout:.0f} s (is there an endless loop?)"
        except Exception as exc:  # noqa: BLE001 - a dead kernel or a broken notebook: report, go on
            run.problem = _kernel_problem(exc, log)
    _as_a_terminal_shows(nb)
    run.notebook, run.seconds = nb, time.monotonic() - start
    run.graded, run.errors = summarise(nb)
    return run


def summarise(nb: Any) -> tuple[list[GradedCell], list[str]]:
    """Graded cells (by nbgrader grade_id) with their status, and errors of the other cells."""
    graded, errors = [], []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        message = _one_line(f"{error.get('ename', 'Error')}: {error.get('evalue', '')}") if error else ""
        if meta.get("grade") and meta.get("grade_id"):
            if error:
                status = FAIL
            elif cell.get("execution_count") is None:
                status, message = NOT_RUN, "did not run"
            else:
                status = PASS
            graded.append(GradedCell(meta["grade_id"], float(meta.get("points", 0) or 0), status, message))
        elif error:
            errors.append(f"cell {index + 1}: {message}")
    return graded, errors


def edited_graded_cells(nb: Any) -> list[str]:
    """Graded cells whose source no longer matches nbgrader's checksum (the grader uses the original)."""
    edited = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        # An answer cell (solution as well as grade: a written answer) is there to be changed.
        if meta.get("grade") and not meta.get("solution") and meta.get("checksum") and meta.get("grade_id"):
            if nbgrader_checksum(cell) != meta["checksum"]:
                edited.append(meta["grade_id"])
    return edited


def nbgrader_checksum(cell: Any) -> str:
    """nbgrader.utils.compute_checksum, without needing nbgrader on the student's machine."""
    import hashlib

    meta = cell.metadata.nbgrader
    m = hashlib.md5()
    m.update(cell.source.encode("utf-8"))
    m.update(cell.cell_type.encode("utf-8"))
    grade, solution = meta.get("grade", False), meta.get("solution", False)
    locked = False if solution else True if grade else meta.get("locked", False)
    for flag in (grade, solution, locked):
        m.update(str(flag).encode("utf-8"))
    m.update(meta["grade_id"].encode("utf-8"))
    if meta.get("grade"):
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()


def _clear_outputs(nb: Any) -> None:
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)


def _as_a_terminal_shows(nb: Any) -> None:
    """Streams as Jupyter shows them: consecutive outputs of one stream are one text (the kernel
    sends a progress bar's every redraw as an output of its own), and a line redrawn with "\r"
    keeps only what ends up on screen instead of every frame."""
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or not cell.get("outputs"):
            continue
        outputs: list[Any] = []
        for out in cell.outputs:
            last = outputs[-1] if outputs else None
            if (out.get("output_type") == "stream" and last is not None and last.get("output_type") == "stream"
                    and last.get("name") == out.get("name")):
                last["text"] = last.get("text", "") + out.get("text", "")
            else:
                outputs.append(out)
        for out in outputs:
            if out.get("output_type") == "stream" and "\r" in out.get("text", ""):
                out["text"] = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1]
                                        for line in out["text"].split("\n"))
        cell.outputs = outputs


def _kernel_problem(exc: BaseException, log: Any) -> str:
    name = type(exc).__name__
    if name == "DeadKernelError":
        log.seek(0)
        tail = [line for line in log.read().splitlines() if line.strip() and "WARNING" not in line][-1:]
        return "the kernel died (out of memory, or the code exited Python)" + (f": {tail[0][:200]}" if tail else "")
    if name in ("NoSuchKernel", "FileNotFoundError"):
        return f"could not start a Python kernel ({_one_line(exc)}); is ipykernel installed?"
    return f"could not run: {_one_line(exc)}"


def _one_line(value: object) -> str:
    text = " ".join(ANSI.sub("", str(value)).split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"
