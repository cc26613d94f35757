"""A Dask worker plugin that kills the worker process running chosen tasks: a machine
that dies mid-task, for tests/test_cluster.py.  Shipped to the workers by value."""
from __future__ import annotations

import os
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin


class KillOnTask(WorkerPlugin):
    """Kill the worker as soon as it starts a task whose key ends in one of ``suffixes``:
    the first ``times`` times in all (counted in files under ``marks``, which every
    worker process sees), or every time if ``times`` is None."""

    name = "kill-on-task"

    def __init__(self, suffixes: tuple[str, ...], marks: str, times: int | None = 1):
        self.suffixes, self.marks, self.times = suffixes, marks, times

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing" or not str(key).endswith(self.suffixes):
            return
        marks = Path(self.marks)
        done = len(list(marks.glob("kill-*")))
        if self.times is not None and done >= self.times:
            return
        (marks / f"kill-{done}-{os.getpid()}").write_text(str(key))
        os._exit(1)  # no clean-up, no goodbye: as a machine that loses power
