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

Whoever can talk to a scheduler or worker can run code on the workers, so the
kit talks to a cluster only over mutual TLS: ``--dask local`` makes new
credentials for each run (in memory) and listens on loopback only; a running
cluster is reached with the operator's certificates (:class:`DaskTarget`),
and a plain ``tcp://`` one only when the operator says ``--dask-insecure``.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator

from coursekit.autograde.executors import Batch, GraderExecutor
from coursekit.autograde.grader import Grader
from coursekit.results import SubmissionResult
from coursekit.autograde.worker import GraderSpec, grade_handin, grader_digest
from coursekit.course import CourseError


CONNECT_SECONDS = 30  # how long to wait for a scheduler that does not answer
# For a cluster started here; docs/platforms.md suggests the same for clusters started by hand.
QUIET_WORKERS = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.gil.enabled": False}
# A local cluster's HTTP pages (logs, task exceptions, worker details) are plain HTTP that
# TLS does not cover, and grading needs none of them: every route off.
NO_HTTP_PAGES = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
LOOPBACK = "127.0.0.1"
# The configuration a Dask client reads its credentials from when no --dask-tls-* option is given.
TLS_CONFIG = {"ca_file": "distributed.comm.tls.ca-file", "cert": "distributed.comm.tls.client.cert",
              "key": "distributed.comm.tls.client.key"}
OPTION = {"ca_file": "--dask-tls-ca-file", "cert": "--dask-tls-cert", "key": "--dask-tls-key"}


@dataclass(frozen=True)
class DaskTarget:
    """Where ``--dask`` grades, and the credentials this client shows the cluster."""
    address: str  # "local", or a running scheduler's address (tls://host:port)
    ca_file: str | None = None  # PEM: the cluster's CA; only peers whose certificate it signed are trusted
    cert: str | None = None  # PEM: this client's certificate, signed by that CA (may hold the key too)
    key: str | None = None  # PEM: its private key, unencrypted
    insecure: bool = False  # accept a tcp:// scheduler: then anyone who reaches it can run code on its workers

    @property
    def local(self) -> bool:
        return self.address == "local"

    @property
    def files(self) -> dict[str, str]:
        return {name: value for name, value in (("ca_file", self.ca_file), ("cert", self.cert),
                                                ("key", self.key)) if value is not None}


def check_target(target: DaskTarget | str) -> DaskTarget:
    """The target, if the kit may grade there as given; else one clear CourseError (nothing started)."""
    target = DaskTarget(target) if isinstance(target, str) else target
    where = f"--dask {target.address}"
    if target.local:
        if target.files or target.insecure:
            raise CourseError(f"{where} makes its own credentials for each run and is always TLS: "
                              "--dask-tls-* and --dask-insecure are for a running cluster's address")
    elif _scheme(target.address) != "tls":
        if not target.insecure:
            raise CourseError(f"{where}: refused: anyone who can reach a {_scheme(target.address)}:// scheduler "
                              "can run code on its workers; use a tls:// scheduler with --dask-tls-ca-file, "
                              "--dask-tls-cert and --dask-tls-key (docs/platforms.md: grading on a Dask cluster), "
                              "or accept that with --dask-insecure")
        if target.files:
            raise CourseError(f"{where}: --dask-tls-* options need a tls:// address")
    elif target.files:
        _check_files(where, target)
    else:
        _check_config(where)
    return target


def _scheme(address: str) -> str:
    return address.split("://", 1)[0] if "://" in address else "tcp"  # Dask's default


def _check_files(where: str, target: DaskTarget) -> None:
    for name, path in target.files.items():
        _readable(OPTION[name], path)
    missing = [OPTION[name] for name in ("ca_file", "cert") if name not in target.files]
    if missing:
        raise CourseError(f"{where}: {' and '.join(missing)} missing (the cluster's CA and this client's "
                          "certificate, see docs/platforms.md)")


def _check_config(where: str) -> None:
    """No --dask-tls-* option: the credentials must be in Dask's configuration."""
    import dask

    configured = {name: dask.config.get(key, None) for name, key in TLS_CONFIG.items()}
    if not (configured["ca_file"] and configured["cert"]):
        raise CourseError(f"{where}: a tls:// scheduler needs this client's credentials: --dask-tls-ca-file, "
                          "--dask-tls-cert and --dask-tls-key, or Dask's config "
                          f"{', '.join(TLS_CONFIG.values())} (see docs/platforms.md)")
    for name, value in configured.items():
        if value and "\n" not in str(value):  # the config may hold the PEM text itself
            _readable(TLS_CONFIG[name], str(value))


def _readable(option: str, path: str) -> None:
    file = Path(path)
    if not file.is_file():  # before opening: a FIFO would block
        raise CourseError(f"{option} {path}: {'not a file' if file.exists() else 'no such file'}")
    try:
        with open(file, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise CourseError(f"{option} {path}: cannot be read: {exc.strerror or exc}") from None


def _security(target: DaskTarget):
    """The distributed.Security this client connects with (None: Dask's defaults, plain tcp)."""
    from distributed.security import Security

    if target.local:
        try:
            # One self-signed certificate for every role of this run: only processes started here hold it.
            return Security.temporary()
        except ImportError:
            raise CourseError("--dask local needs cryptography for its TLS credentials: pip install cryptography") \
                from None
    if _scheme(target.address) != "tls":
        return None
    if not target.files:
        return Security(require_encryption=True)  # the credentials in Dask's config
    # All three given, a missing key as None: never mixed with a key from the config.
    return Security(require_encryption=True, tls_ca_file=target.ca_file, tls_client_cert=target.cert,
                    tls_client_key=target.key)


class DaskExecutor(GraderExecutor):
    """The ``dask`` executor: each hand-in read here, graded on the cluster ``dask`` (checked now)."""
    name = "dask"

    def __init__(self, dask: DaskTarget | str = "local"):
        self.target = check_target(dask)

    def results(self, batch: Batch) -> Iterator[tuple[str, SubmissionResult | BaseException]]:
        return grade_on_cluster(self.target, batch.grader, batch.references, batch.students, batch.jobs,
                                log=batch.log)


def grade_on_cluster(target: DaskTarget | str, grader: Grader, references: dict, students: list[str], jobs: int,
                     log: Callable[[str], object] = print) -> Iterator[tuple[str, SubmissionResult | BaseException]]:
    """Each student's result (or why there is none), in the order they finish."""
    target = check_target(target)
    try:
        import dask
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise CourseError("--dask needs Dask: pip install 'dask[distributed]'") from None
    spec = GraderSpec(grader.assignment, grader.course, grader.config, references,
                      grader_digest(grader.assignment, grader.course))
    security = _security(target)
    with ExitStack() as stack:
        if target.local:
            # The workers' statistical profiler and GIL monitor sample every few ms: CPU the sandboxes need.
            stack.enter_context(dask.config.set({**QUIET_WORKERS, **NO_HTTP_PAGES}))
            # One thread per worker process: the sandbox is the work, and each process holds one grader.
            # Scheduler, nannies and workers listen on loopback, TLS only, and trust only this run's certificate.
            cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                       host=LOOPBACK, protocol="tls", security=security,
                                                       dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(target.address, security=security, timeout=CONNECT_SECONDS))
            except OSError as exc:  # ssl.SSLError included: a scheduler that refused our certificate
                raise CourseError(f"no Dask scheduler answers at {target.address} (or it refused this client's "
                                  f"credentials): {exc}") from None
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
