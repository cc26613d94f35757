"""The harness: the only program that runs student code during grading.

Run as ``python -I -S -B child.py HARNESS WORKDIR`` inside the sandbox.  Both
are read-only: HARNESS holds the grader's copy of the checks (``kit/``) and
links to the packages it may import (``site/``), WORKDIR one or more
libraries (``lib/<variant>/mytorch``: student files and stubs) and the code
of the notebook cells that items run (``cells/``).  The job and every input arrive
on stdin; answers leave through file descriptor 3, which only this process
holds.  The job says, per item, what its check's ``run`` is given: the
library package, imported, or a module made of one notebook cell's code,
run on its own (it may import the library itself).

Student code never runs in this process.  Each item runs in a worker forked
for it: the worker closes descriptor 3, forgets every other item's inputs,
imports the item's library and calls the check's ``run`` on each case,
sending arrays back through a pipe of its own.  This process then labels the
answers with the item it asked for, so code running for one item can answer
only for that item, and a case that raised has no answer whatever else was
sent.  A worker that hangs is killed at the item's time limit; one whose
library does not import is retried with the next library variant (the
item's own files, stubs for the rest).

Hidden cases are never in the memory of a process whose student code says
anything the student reads in full.  The grader sends every item's public
cases (the visible one, the advice) first and the hidden ones after; this
process reads standard input without read-ahead, runs every item's public
cases in workers forked before it has read any hidden case, and only then
reads the hidden cases and runs them in workers of their own (nothing a
public case's code left behind can be there: every worker's processes are
killed before the next starts).  What those say about a failure is a
category (``raised ValueError``, ``timed out``), never a message: the grader
shows no more for a hidden case.  An item whose visible case has no answer
(it raised, did not import, ran out of time) scores 0 whatever its hidden
cases do, so they are not run.

The harness is made non-dumpable before any worker exists: a worker, or
anything it leaves behind, can then neither read nor write this process's
memory or descriptors through /proc (the sandbox's seccomp filter refuses
ptrace outright).  It decides nothing: the grader compares the arrays with
its own references after the sandbox is gone.  Standard library and numpy
only.
"""
from __future__ import annotations

import importlib
import os
import resource
import select
import signal
import sys
import time
import traceback
from pathlib import Path

RESULT_FD = 3
MAX_ERROR = 2000


def main(harness: Path, workdir: Path) -> None:
    sys.path[:0] = [str(harness / "kit"), str(harness / "site")]
    from coursekit.autograde import protocol
    from coursekit.runtime.checks import NOT_RUN, get
    import numpy as np

    # Done once here rather than in every item's worker: importing the kit's cell runner, and
    # numpy.random's first use (each costs a worker ~30 ms).  Private generators: the global one
    # is left as numpy seeded it.
    import coursekit.runtime.checks.library  # noqa: F401
    np.random.RandomState(0).standard_normal(1)
    np.random.default_rng(0).standard_normal(1)

    _not_dumpable()
    results = os.fdopen(RESULT_FD, "wb", buffering=0)
    stdin = _Unbuffered()
    job, _ = protocol.read_frame(stdin, budget=0)
    items = job["items"]
    # The public cases' frames only: the hidden ones stay in the pipe until those workers are done.
    inputs = _read_inputs(stdin, sum(len(spec["cases"]) - len(spec["hidden"]) for spec in items.values()),
                          job["input_bytes"])
    checks = {grade_id: get(grade_id) for grade_id in items}
    cells = {grade_id: (workdir / spec["cell"]).read_text(encoding="utf-8")
             for grade_id, spec in items.items() if spec.get("cell")}
    # Everything before this frame is the grader's; a failure there is not the student's.
    results.write(protocol.encode({"type": "ready"}))
    _import_compiled()
    moot: set[str] = set()  # items whose visible case has no answer: 0 points, whatever the hidden ones do
    for hidden in (False, True):
        if hidden:
            inputs = _read_inputs(stdin, sum(len(spec["hidden"]) for spec in items.values()), job["input_bytes"])
        for grade_id, spec in items.items():
            cases = [case for case in spec["cases"] if (case in spec["hidden"]) == hidden]
            if not cases:
                continue
            if grade_id in moot:
                for case in cases:
                    results.write(protocol.encode({"type": "error", "item": grade_id, "case": case,
                                                   "message": NOT_RUN, "category": NOT_RUN}))
                continue
            answers = _answer_item(job, grade_id, {**spec, "cases": cases}, workdir, checks, inputs,
                                   cells.get(grade_id), results)
            if any(answers[case][0] is None for case in spec.get("visible", ()) if case in answers):
                moot.add(grade_id)
    results.write(protocol.encode({"type": "done"}))


class _Unbuffered:
    """Standard input read with no read-ahead, so that no hidden case's frame is in this
    process's memory (nor in a worker forked from it) before the hidden cases' turn."""

    def read(self, size: int) -> bytes:
        chunks = []
        while size > 0:
            chunk = os.read(0, size)
            if not chunk:
                break
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


def _read_inputs(stdin: _Unbuffered, count: int, budget: int) -> dict[tuple[str, str], dict]:
    """The next ``count`` input frames, by (item, case)."""
    from coursekit.autograde import protocol

    inputs: dict[tuple[str, str], dict] = {}
    for _ in range(count):
        frame = protocol.read_frame(stdin, budget=budget)
        if frame is None:
            break
        inputs[(frame[0]["item"], frame[0]["case"])] = frame[1]
    return inputs


_COMPILED_LIBS: set[str] = set()


def _answer_item(job: dict, grade_id: str, spec: dict, workdir: Path, checks: dict, inputs: dict,
                 cell: str | None, results) -> dict[str, tuple[dict | None, str, str]]:
    """Run ``spec["cases"]`` of one item (the first library variant that imports), send what came
    of each, and return it."""
    from coursekit.autograde import protocol

    for lib in spec["libs"]:
        if lib not in _COMPILED_LIBS:
            _COMPILED_LIBS.add(lib)
            _compile_library(workdir / "lib" / lib, job["package"])
        answers, imported = _run_item(job, grade_id, spec, workdir / "lib" / lib, checks, inputs, cell)
        if imported:
            break  # a retry with fewer files would change nothing
    for case in spec["cases"]:
        arrays, why, category = answers[case]
        if arrays is not None:
            results.write(protocol.encode({"type": "answer", "item": grade_id, "case": case}, arrays))
        else:
            results.write(protocol.encode({"type": "error", "item": grade_id, "case": case,
                                           "message": why[:MAX_ERROR], "category": category}))
    return answers


def _run_item(job: dict, grade_id: str, spec: dict, lib: Path, checks: dict, inputs: dict,
              cell: str | None) -> tuple[dict[str, tuple[dict | None, str, str]], bool]:
    """case -> (arrays, "", "") or (None, why there is no answer, the same as a category); and
    whether the student code imported (or, for a cell, ran) so that the item's cases could be tried."""
    cases = spec["cases"]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: from here on, anything may happen
        try:
            os.close(read_end)
            os.close(RESULT_FD)
            mine = {case: inputs[(grade_id, case)] for case in cases}
            inputs.clear()  # tidy, not a secret: the other items' inputs are never answered for
            _worker(job, spec, checks[grade_id], mine, lib, cell, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    data, why = _read_worker(pid, read_end, job["item_seconds"], job["answer_bytes"])
    _kill_leftovers(pid, everything=job["own_pid_namespace"])
    _, status = os.waitpid(pid, 0)
    why = why if why[0] else _how_it_ended(status)
    return _answers(data, cases, why, job["answer_bytes"], _failed(job, spec))


_COMPILED: dict[str, object] = {}  # path of a library file, as the import system spells it -> its code


def _compile_library(lib: Path, package: str) -> None:
    """Compile a library's files once, here, for all items' workers to import: compiling
    is most of an import, and each worker would do it again.  Compiling runs none of the
    code; a file that does not compile is left to the worker's own import to report."""
    for path in sorted(lib.glob(f"{package}/**/*.py")):
        try:
            _COMPILED[str(path)] = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except BaseException:  # noqa: BLE001 - SyntaxError, ValueError, RecursionError, MemoryError...
            continue


def _import_compiled() -> None:
    """Source imports (the workers', forked from here) take the code _compile_library made."""
    from importlib.machinery import SourceFileLoader

    own = SourceFileLoader.get_code
    SourceFileLoader.get_code = lambda self, fullname: _COMPILED.get(self.path) or own(self, fullname)


def _failed(job: dict, spec: dict) -> str:
    """How a student's code that did not import (or run) is reported."""
    return f"running {spec['where']} failed" if spec.get("cell") else f"importing {job['package']} failed"


def _answers(data: bytes, cases: list[str], why: tuple[str, str], budget: int,
             import_failed: str) -> tuple[dict[str, tuple[dict | None, str, str]], bool]:
    """Read a worker's frames, which must be exactly what the worker's own code sends:
    ``import_error``, or ``imported`` then one ``answer`` or ``error`` per case, in order.

    Student code runs in the worker and can write to its pipe too; anything
    else — a frame before the import finished, a case out of turn, a second
    frame for a case — voids the item, so no frame but the one the check's own
    call produced can stand for a case."""
    from coursekit.autograde import protocol
    from coursekit.runtime.checks import IMPORT_FAILED, NO_ANSWER, TAMPERED

    frames: list[tuple[dict, dict]] = []
    try:
        for frame in protocol.decode(data, budget=budget):
            frames.append(frame)
    except protocol.ProtocolError as exc:
        why = (f"sent something that is not an answer ({exc})", TAMPERED)
    void = (f"{TAMPERED}: the worker's channel carried frames its check did not send", TAMPERED)
    kinds = [header.get("type") for header, _ in frames]
    if "imported" not in kinds:
        failed = [str(h.get("message", "")) for h, _ in frames if h.get("type") == "import_error"]
        message = f"{import_failed}: {failed[-1] if failed else why[0] or 'no reason given'}"[:MAX_ERROR]
        return {case: (None, message, IMPORT_FAILED) for case in cases}, False
    if frames[0][0] != {"type": "imported", "arrays": {}, "payload": 0}:
        return {case: (None, *void) for case in cases}, True
    answers: dict[str, tuple[dict | None, str, str]] = {}
    for case, (header, arrays) in zip(cases, frames[1:]):
        if header.get("case") != case or header.get("type") not in ("answer", "error") or \
                set(header) - {"type", "case", "message", "category", "arrays", "payload"}:
            break
        answers[case] = (arrays, "", "") if header["type"] == "answer" else \
            (None, str(header.get("message", ""))[:MAX_ERROR], str(header.get("category", ""))[:100])
    if len(frames) - 1 > len(cases) or len(answers) < len(frames) - 1:
        return {case: (None, *void) for case in cases}, True
    return {case: answers.get(case, (None, why[0] or NO_ANSWER, why[1] or NO_ANSWER)) for case in cases}, True


def _worker(job: dict, spec: dict, check, inputs: dict, lib: Path, cell: str | None, out: int) -> None:
    from coursekit.autograde import protocol
    from coursekit.runtime.checks import TOO_LARGE, raised_category
    from coursekit.runtime.checks.library import run_cell

    os.setpgid(0, 0)
    # The item's wall-clock limit, not the CPU limit, should end an endless loop (it says what
    # happened, and the two raced): CPU time runs to the hard limit, a second past the soft one.
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    if cpu_hard != resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # student prints go to the captured, bounded stderr
    sys.path.insert(0, str(lib))
    _block_imports(job["allowed_prefixes"])
    import numpy as np

    def send(header: dict, arrays: dict | None = None) -> None:
        frame = protocol.encode(header, arrays)
        view = memoryview(frame)
        while view:
            view = view[os.write(out, view):]

    try:
        code = run_cell(cell, spec["where"]) if cell is not None else importlib.import_module(job["package"])
    except BaseException as exc:  # noqa: BLE001 - any failure is the student's to read
        send({"type": "import_error", "message": _describe(exc, job, spec)})
        return
    send({"type": "imported"})
    for case, arrays in inputs.items():
        try:
            with np.errstate(all="ignore"):
                results = check.run(code, arrays)
            answer = {str(key): np.asarray(value, dtype=np.float64) for key, value in dict(results).items()}
        except BaseException as exc:  # noqa: BLE001 - SystemExit included: exiting early earns nothing
            send({"type": "error", "case": case, "message": _describe(exc, job, spec),
                  "category": raised_category(type(exc))})
            continue
        if sum(a.nbytes for a in answer.values()) > job["answer_bytes"]:
            send({"type": "error", "case": case, "message": "the result is larger than any answer can be",
                  "category": TOO_LARGE})
            continue
        send({"type": "answer", "case": case}, answer)


def _read_worker(pid: int, fd: int, seconds: float, limit: int) -> tuple[bytes, tuple[str, str]]:
    """What the worker sent (at most ``limit`` bytes and a frame), and ("", "") or why it was
    stopped (a message and its category).

    Reading ends at end of stream, shortly after the worker exits (something
    it left behind may hold the pipe open), or at the time limit."""
    from coursekit.runtime.checks import TIMED_OUT, TOO_LARGE

    deadline = time.monotonic() + seconds
    pidfd = os.pidfd_open(pid)
    chunks, size, exited = [], 0, False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks), ("", "") if exited else \
                    (f"stopped after {seconds:g} s without answering (an endless loop?)", TIMED_OUT)
            ready, _, _ = select.select([fd] if exited else [fd, pidfd], [], [], remaining)
            if pidfd in ready:
                exited, deadline = True, min(deadline, time.monotonic() + 0.5)
            if fd not in ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks), ("", "")
            chunks.append(chunk)
            size += len(chunk)
            if size > limit + (1 << 20):
                return b"".join(chunks), (TOO_LARGE, TOO_LARGE)
    finally:
        os.close(fd)
        os.close(pidfd)


def _how_it_ended(status: int) -> tuple[str, str]:
    from coursekit.runtime.checks import CRASHED, TIMED_OUT

    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "used up its CPU time without answering (an endless loop?)", TIMED_OUT
        return f"the process was killed (signal {sig}: {'a crash' if sig == 11 else 'time or memory limit?'})", \
            CRASHED
    if os.WIFEXITED(status) and os.WEXITSTATUS(status):
        return f"the process ended (exit status {os.WEXITSTATUS(status)}) before answering", CRASHED
    return "the process ended before answering", CRASHED


def _kill_leftovers(pid: int, everything: bool) -> None:
    """The worker, its group and, in the sandbox's own PID namespace, everything else but us."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass
    if not everything:
        return  # outside the sandbox /proc is the host's: never signal strangers
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (me, 1):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def _not_dumpable() -> None:
    import ctypes

    PR_SET_DUMPABLE = 4
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def _block_imports(allowed: list[str]) -> None:
    """Refuse imports of anything outside the standard library and ``allowed`` from here on.

    Modules already imported stay importable; the source policy covers those."""
    stdlib = set(sys.stdlib_module_names)

    class Blocker:
        @staticmethod
        def find_spec(name, path=None, target=None):
            top = name.split(".")[0]
            # sysconfig (which scipy, for one, reads) loads its platform's data module by a made-up name.
            if top in stdlib or top.startswith("_sysconfigdata_") or \
                    any(name == p or name.startswith(p + ".") for p in allowed):
                return None
            raise ImportError(f"import of {name!r} is not allowed while grading")

    sys.meta_path.insert(0, Blocker())


def _describe(exc: BaseException, job: dict, spec: dict) -> str:
    """The error, and where in the student's code (a library file, or the notebook cell) it was raised."""
    if isinstance(exc, NotImplementedError):
        return f"not implemented yet ({exc})" if str(exc) else "not implemented yet"
    package = f"/{job['package']}/"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if package in f.filename or (spec.get("cell") and f.filename == spec["where"])]
    if not frames:
        where = ""
    elif package in frames[-1].filename:
        where = f" ({package[1:] + frames[-1].filename.split(package)[-1]}, line {frames[-1].lineno})"
    else:
        where = f" ({spec['where']}, line {frames[-1].lineno})"
    return f"{type(exc).__name__}: {exc}{where}"[:MAX_ERROR]


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
