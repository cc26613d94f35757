"""Run an untrusted child process under limits, and collect what it printed.

    result = sandbox.run([python, "check.py"], scratch=work_dir,
                         hide=[repo_root, gradebook_db, students_dir],
                         read_only=[submission_copy, *sandbox.python_paths()],
                         limits=sandbox.Limits(wall_seconds=120),
                         require_sandbox=True)

What holds **with bubblewrap** (``available()`` is true, ``Result.sandboxed``):

- Own PID, network, IPC and UTS namespaces.  Nothing the child starts outlives
  ``run()``: when the child exits (or the wall clock runs out and we kill
  bwrap) the namespace's PID 1 dies and the kernel kills every process left in
  it, including ones that called ``setsid()``.  No network at all, not even
  the host's loopback.
- The whole filesystem is read-only; ``/tmp`` is a small private tmpfs; the
  only writable host directory is ``scratch`` (the working directory).
  Every path in ``hide`` (and ``/root``) is covered: a directory by an empty
  read-only tmpfs, a file by ``/dev/null`` (mounted nodev: opening it
  fails).  ``read_only`` paths are bound back on top, so they are visible
  even inside a hidden directory.
- Run as root (CI, grading servers), the child drops to a fresh unprivileged
  uid with no capabilities (``setpriv``, util-linux) inside the sandbox, so
  ``RLIMIT_NPROC`` applies (the kernel never enforces it for uid 0, even
  behind a mapped uid in a user namespace: the real uid still counts) and
  root-only files stay unreadable.  ``scratch`` is chowned to that uid; the
  ``read_only`` paths must be world-readable.
- rlimits: CPU seconds, address space, file size, process count, no core.

What holds **without bubblewrap** (fallback, ``sandboxed=False``): the rlimits,
the wall-clock timeout, the bounded output, a scrubbed environment, and on
exit or timeout a SIGKILL to the child's process group.  A child that calls
``setsid()`` escapes that kill; the filesystem, the network and the
instructor's files are all reachable; as root ``RLIMIT_NPROC`` is not
enforced.  So ``require_sandbox=True`` (use it for grading) raises
``SandboxUnavailable`` instead of falling back.

Not covered either way: disk space in ``scratch`` (many files of
``max_file_bytes`` each; put scratch on a size-limited filesystem if that
matters), CPU shares, and syscall filtering (no seccomp).
"""
from __future__ import annotations

import functools
import os
import resource
import secrets
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

# Hidden even if the caller does not ask: root's home (keys, tokens), and a
# 0700 /root would otherwise block an unprivileged child from reaching an
# interpreter installed below it (pyenv) that the caller re-binds.
ALWAYS_HIDDEN = (Path("/root"),)
_PATH = "/usr/local/bin:/usr/bin:/bin"
_TMP_BYTES = 256 << 20  # the sandbox's private /tmp is RAM; cap it
_DRAIN_SECONDS = 1.0    # after the child exits, how long stragglers may hold its pipes


class SandboxUnavailable(RuntimeError):
    """require_sandbox=True but bubblewrap is missing or does not work here."""


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60
    cpu_seconds: int = 60            # per process (RLIMIT_CPU)
    memory_bytes: int = 2 << 30      # address space per process (RLIMIT_AS)
    max_processes: int = 64          # RLIMIT_NPROC for the child's uid
    max_output_bytes: int = 1 << 20  # kept per stream; the rest is read and dropped
    max_file_bytes: int = 64 << 20   # RLIMIT_FSIZE


@dataclass
class Result:
    returncode: int | None  # None if killed at the wall limit; 128+N for death by signal N
    stdout: str
    stderr: str
    timed_out: bool
    output_truncated: bool
    seconds: float
    sandboxed: bool


def python_paths() -> list[Path]:
    """The directories this interpreter needs, to pass as ``read_only``."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            str(Path(sys.executable).resolve().parent.parent)}
    return sorted(Path(d).resolve() for d in dirs)


def available() -> bool:
    """bwrap is installed and a real sandbox (with the uid drop, as root) starts here."""
    return _probe()


@functools.lru_cache(maxsize=None)
def _probe() -> bool:
    if not shutil.which("bwrap") or (os.geteuid() == 0 and not shutil.which("setpriv")):
        return False
    with tempfile.TemporaryDirectory() as scratch:
        try:
            res = _run(["true"], Path(scratch), (), (), {}, Limits(wall_seconds=20), sandboxed=True)
        except OSError:
            return False
    return res.returncode == 0 and not res.timed_out


def run(argv: Sequence[str], *, scratch: Path, hide: Sequence[Path] = (),
        read_only: Sequence[Path] = (), env: Mapping[str, str] | None = None,
        limits: Limits = Limits(), require_sandbox: bool = False,
        use_sandbox: bool = True) -> Result:
    """Run ``argv`` in ``scratch`` under ``limits``; never raises for what the child does.

    ``env`` is added to a minimal environment (nothing is inherited).
    ``hide`` and ``read_only`` only mean something inside the sandbox.
    ``use_sandbox=False`` forces the fallback (tests, debugging).
    """
    sandboxed = use_sandbox and available()
    if require_sandbox and not sandboxed:
        raise SandboxUnavailable(
            "require_sandbox=True contradicts use_sandbox=False" if not use_sandbox else
            "bubblewrap sandbox required but unavailable here "
            "(apt-get install bubblewrap; as root, util-linux's setpriv too)")
    return _run(list(argv), Path(scratch), hide, read_only, env or {}, limits, sandboxed)


def _run(argv: list[str], scratch: Path, hide: Sequence[Path], read_only: Sequence[Path],
         env: Mapping[str, str], limits: Limits, sandboxed: bool) -> Result:
    scratch = scratch.resolve()
    if not scratch.is_dir():
        raise FileNotFoundError(f"scratch directory {scratch} does not exist")
    read_only = [Path(p).resolve() for p in read_only]
    for p in read_only:
        if not p.exists():
            raise FileNotFoundError(f"read_only path {p} does not exist")

    full_env = {"PATH": _PATH, "HOME": str(scratch), "TMPDIR": str(scratch),
                "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", **env}
    root = os.geteuid() == 0
    if sandboxed:
        uid = None
        if root:
            # A fresh uid per run: its process count starts at 0, and it owns
            # nothing on the host but scratch.
            uid = 1_500_000_000 + secrets.randbelow(1 << 24)
            _chown_tree(scratch, uid)
        hidden = [Path(p) for p in (*ALWAYS_HIDDEN, *hide)]
        argv = _bwrap_argv(argv, scratch, hidden, read_only, uid)
    # The kernel ignores RLIMIT_NPROC for root (so it only bites after the
    # uid drop) and counts all of a non-root caller's own processes.
    nproc = limits.max_processes + (0 if root else _count_processes(os.geteuid()))

    def set_limits() -> None:  # in the child, between fork and exec
        for res, value in ((resource.RLIMIT_AS, limits.memory_bytes),
                           (resource.RLIMIT_FSIZE, limits.max_file_bytes),
                           (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value))
        # the soft limit sends SIGXCPU, the hard one a second later SIGKILL
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))

    start = time.monotonic()
    with subprocess.Popen(argv, cwd=scratch, env=full_env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True, preexec_fn=set_limits) as proc:
        try:
            out, err, truncated, timed_out = _collect(proc, limits, start + limits.wall_seconds)
        finally:
            _kill(proc.pid)  # timeout, leftovers in the group, or an exception
    # Report death by signal N as 128+N, the way bwrap (and a shell) does.
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Result(returncode=None if timed_out else code,
                  stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
                  timed_out=timed_out, output_truncated=truncated,
                  seconds=time.monotonic() - start, sandboxed=sandboxed)


def _bwrap_argv(argv: list[str], scratch: Path, hide: list[Path], read_only: list[Path],
                uid: int | None) -> list[str]:
    cmd = [shutil.which("bwrap") or "bwrap", "--die-with-parent",
           "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try",
           "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--perms", "1777", "--size", str(_TMP_BYTES), "--tmpfs", "/tmp"]
    tmpfs = {Path("/tmp")}        # mounts whose directories bwrap creates
    mounted = [Path("/"), Path("/tmp")]
    made: set[Path] = set()
    # Parents before children, and at equal paths hiding before exposing, so
    # a re-exposed path inside a hidden directory is mounted on top of it.
    ops = [(p, 0) for p in (h.resolve() for h in hide) if p.exists()]
    ops += [(p, 1) for p in read_only] + [(scratch, 2)]
    for path, kind in sorted(ops):
        # bwrap would create a mount point's missing parents with mode 0700,
        # which the unprivileged child could not walk through.
        for parent in reversed(path.parents):
            owner = max((m for m in mounted if m == parent or m in parent.parents),
                        key=lambda m: len(m.parts))
            if owner in tmpfs and owner != parent and parent not in made:
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        p = str(path)
        if kind == 0 and path.is_dir():
            cmd += ["--tmpfs", p]
            tmpfs.add(path)
        elif kind == 0:
            cmd += ["--ro-bind", "/dev/null", p]  # mounted nodev: opening it fails
        elif kind == 1:
            cmd += ["--ro-bind", p, p]
        else:
            cmd += ["--bind", p, p]
        mounted.append(path)
    for p in sorted(tmpfs - {Path("/tmp")}):  # last: the binds above needed their mount points made
        cmd += ["--remount-ro", str(p)]
    cmd += ["--chdir", str(scratch)]
    if uid is not None:
        # bwrap runs privileged here (no user namespace: a mapped uid would
        # still be root to RLIMIT_NPROC); setpriv drops to `uid` with every
        # capability gone, bounding set included; bwrap already set no_new_privs.
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                "--", shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    return cmd + ["--", *argv]


def _collect(proc: subprocess.Popen, limits: Limits,
             deadline: float) -> tuple[bytes, bytes, bool, bool]:
    """Read both pipes until the child is gone, keeping at most max_output_bytes of each.

    Reading on after the cap (and dropping the bytes) keeps a chatty child
    from blocking on a full pipe.  Exit is noticed through a pidfd, but the
    child is reaped only by the caller, so its process group id cannot be
    reused before we kill what is left in the group.
    """
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    pidfd = os.pidfd_open(proc.pid)
    truncated = timed_out = exited = False
    with selectors.DefaultSelector() as sel:
        for fd in bufs:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        sel.register(pidfd, selectors.EVENT_READ)
        try:
            while not exited or len(sel.get_map()) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = not exited
                    break
                for key, _ in sel.select(remaining):
                    if key.fd == pidfd:
                        exited = True
                        sel.unregister(pidfd)
                        _killpg(proc.pid)  # leftovers in the group (fallback mode)
                        deadline = min(deadline, time.monotonic() + _DRAIN_SECONDS)
                        continue
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fd)
                        continue
                    buf = bufs[key.fd]
                    room = limits.max_output_bytes - len(buf)
                    truncated |= len(chunk) > room
                    buf += chunk[:max(room, 0)]
        finally:
            os.close(pidfd)
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), truncated, timed_out


def _kill(pid: int) -> None:
    """SIGKILL the child's process group and its own children, and wait for those.

    Must run before the child is reaped, while its pid still names the group.
    In the sandbox the child's only child is the PID namespace's init: the
    kernel empties the namespace before that one is reported dead, so once
    we have waited for it nothing started inside is left.
    """
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    pidfds = []
    for kid in kids:
        try:
            pidfds.append(os.pidfd_open(int(kid)))
        except OSError:
            pass  # already gone
    _killpg(pid)
    for fd in pidfds:
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            pass
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(5000)  # readable once the process has exited
        os.close(fd)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _chown_tree(root: Path, uid: int) -> None:
    # follow_symlinks=False: a student's symlink must not make us chown its target
    os.chown(root, uid, uid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        try:
            count += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return count
