"""`course autograde A --dask ADDRESS`: the per-submission work on a Dask cluster.

The client (the process that runs ``course autograde``) reads each hand-in
itself, through the same hostile-input readers as always
(:meth:`Grader.read`), and sends what it read with the task: workers never
see the submitted folders, only the course's own files (read-only is
enough) and bubblewrap.  A worker runs the student's code in its sandbox and
returns the result as plain data; the client alone records it, so the
gradebook keeps its one writer.

Dask's scheduler gives a task whose worker died to another worker (up to
``distributed.scheduler.allowed-failures`` times); a submission that fails
on every try comes back as an exception and is reported, never scored.
``--dask local`` starts a cluster of ``jobs`` worker processes on this machine.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import ExitStack
from typing import Callable, Iterator

from coursekit.autograde.grader import Grader, SubmissionResult
from coursekit.autograde.worker import GraderSpec, grade_handin, grader_digest
from coursekit.course import CourseError


CONNECT_SECONDS = 30  # how long to wait for a scheduler that does not answer
# For a cluster started here; the README suggests the same for clusters started by hand.
QUIET_WORKERS = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.gil.enabled": False}


def grade_on_cluster(address: str, grader: Grader, references: dict, students: list[str], jobs: int,
                     log: Callable[[str], object] = print) -> Iterator[tuple[str, SubmissionResult | BaseException]]:
    """Each student's result (or why there is none), in the order they finish."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise CourseError("--dask needs Dask: pip install 'dask[distributed]'") from None
    spec = GraderSpec(grader.assignment, grader.course, grader.config, references,
                      grader_digest(grader.assignment, grader.course))
    with ExitStack() as stack:
        if address == "local":
            # The workers' statistical profiler and GIL monitor sample every few ms: CPU the sandboxes need.
            stack.enter_context(dask.config.set(QUIET_WORKERS))
            # One thread per worker process: the sandbox is the work, and each process holds one grader.
            cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address, timeout=CONNECT_SECONDS))
            except OSError as exc:
                raise CourseError(f"no Dask scheduler answers at {address}: {exc}") from None
        log(f"grading on Dask: {client.scheduler.address}, "
            f"{len(client.scheduler_info().get('workers', {}))} workers")
        [shared] = client.scatter([spec], broadcast=True)  # sent once to each worker, not with every task
        run = uuid.uuid4().hex[:8]
        pending = as_completed()
        names = {}
        # Tasks go out as their hand-ins are read; results are taken as they come meanwhile.
        for k, student in enumerate(students):
            try:
                handin = grader.read(student)
            except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                yield student, exc
                continue
            future = client.submit(grade_handin, shared, handin, key=f"grade-{run}-{k}", pure=False)
            names[future.key] = student
            pending.add(future)
            while pending.has_ready():
                yield _outcome(next(pending), names)
        for future in pending:
            yield _outcome(future, names)


def _outcome(future, names: dict) -> tuple[str, SubmissionResult | BaseException]:
    student = names.pop(future.key)
    try:
        return student, SubmissionResult.from_dict(future.result())
    except Exception as exc:  # noqa: BLE001 - KilledWorker (it failed on every try), or the grader's error
        return student, exc
    finally:
        future.release()  # the result is recorded: the cluster need not keep it
