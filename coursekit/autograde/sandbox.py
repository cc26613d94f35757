"""Run an untrusted child process under limits, and collect what it printed.

    result = sandbox.run([str(sandbox.python_executable()), "-I", "child.py"],
                         read_only=[work_dir, *sandbox.python_paths()],
                         limits=sandbox.Limits(wall_seconds=120),
                         stdin=job, channel_bytes=1 << 20,  # the child writes answers to fd 3
                         require_sandbox=True)

The child starts in its scratch directory (its ``HOME`` and ``TMPDIR`` too),
which ``run()`` makes and throws away.  ``Result.isolation`` names what held
for that run: ``"bubblewrap"``, ``"seccomp"``, ``"cgroup-v1"``/``"cgroup-v2"``.

How the child is wrapped is a backend's (:class:`Backend`, which says what one
must guarantee): ``"bubblewrap"`` or ``"limits-only"`` here, chosen by name in
:func:`backend_for` (``run(backend=...)``, ``GraderConfig.backend``, ``course
autograde --sandbox``); the rest below is the same for every backend.

What holds **with bubblewrap** (``available()`` is true, ``Result.sandboxed``):

- Own PID, network, IPC, UTS and cgroup namespaces.  Nothing the child starts
  outlives ``run()``: when the child exits (or the wall clock runs out and we
  kill bwrap) the namespace's PID 1 dies and the kernel kills every process
  left in it, including ones that called ``setsid()``.  No network at all.
- A root built from an allow-list, read-only: ``/usr`` (``/bin``, ``/sbin``,
  ``/lib*`` as they are on the host: directories or merged-/usr symlinks),
  ``/etc/ld.so.cache``, and the caller's ``read_only`` paths (which
  ``python_paths()`` helps fill).  Every ``site-packages``/``dist-packages``
  directory inside those trees is covered by an empty tmpfs, so no installed
  package imports unless the caller binds it explicitly.  There is no
  ``/home``, ``/root``, ``/run``, ``/var``, ``/srv``, ``/opt``, ``/mnt``,
  ``/sys`` or host ``/tmp``: no host UNIX socket or file outside the
  allow-list is even visible.  ``hide`` covers paths inside allowed trees:
  a directory by an empty read-only tmpfs, a file by ``/dev/null``
  (mounted nodev: opening it fails); ``read_only`` paths bound inside a
  hidden directory stay visible.
- Nothing on the host is writable.  ``/scratch`` (the working directory) is a
  tmpfs of ``Limits.scratch_bytes``; ``/tmp`` and ``/dev/shm`` are small
  tmpfs mounts (``_TMP_BYTES``); they vanish with the sandbox.
- Run as root (CI, grading servers), the child drops to a fresh unprivileged
  uid with no capabilities (``setpriv``, util-linux) inside the sandbox, so
  ``RLIMIT_NPROC`` applies (the kernel never enforces it for uid 0, even
  behind a mapped uid in a user namespace: the real uid still counts) and
  root-only files stay unreadable.  The ``read_only`` paths must be
  world-readable.
- **+ seccomp** (x86_64 hosts; see ``seccomp.py``): no sockets of any family,
  no memfd, SysV shm/msg, io_uring, userfaultfd, ptrace, process_vm_*,
  bpf, perf, keys, mounts, namespaces, modules; non-x86_64 system calls
  (``int 0x80``) kill the process.  Elsewhere the run goes on without the
  filter and ``isolation`` lacks ``"seccomp"``.
- **+ cgroup** (where this process may create a memory cgroup below its own:
  v1, or v2 with the memory controller already enabled for its children):
  all the child's processes together, tmpfs pages included, are held to
  ``Limits.memory_bytes`` with no swap; ``Result.memory_peak`` and
  ``memory_exceeded`` report on it, and whatever is left in the cgroup is
  killed after the run.  Without it, memory is bounded per process by
  ``RLIMIT_AS`` times ``max_processes``, plus the capped tmpfs sizes.

What holds **without bubblewrap** (fallback, ``sandboxed=False``): the
rlimits, the wall-clock timeout, the bounded output and channel, a scrubbed
environment, a scratch directory on the host that ``run()`` always removes
afterwards (however deep, unreadable or strange), the cgroup if there is one
(then even ``setsid()`` escapees are killed; but a child running as root could
move itself out), and otherwise a SIGKILL to the child's process group (a
child that calls ``setsid()`` escapes that).  The
filesystem, the network and the instructor's files are all reachable, there
is no seccomp filter, scratch can fill the host's disk up to the rlimits, and
as root ``RLIMIT_NPROC`` is not enforced.  So ``require_sandbox=True`` (use it
for grading) raises ``SandboxUnavailable`` instead of falling back.

Not covered either way: CPU shares (a child gets whole cores up to its CPU
seconds), and kernel memory in pipe buffers (bounded by ``max_processes``
times ``max_open_files`` pipes) where no cgroup counts it.
"""
from __future__ import annotations

import fcntl
import functools
import os
import resource
import secrets
import select
import selectors
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Protocol

from coursekit.autograde import seccomp
from coursekit.autograde.named import resolve

SCRATCH = Path("/scratch")  # the child's working directory inside the sandbox
CHANNEL_FD = 3              # the child's end of the channel (channel_bytes > 0)
_SECCOMP_FD = 4             # bwrap reads the filter from here, then closes it
_FD_BYTES = 1 << 16         # what a backend may pass on one fd: a pipe's default capacity
_PATH = "/usr/local/bin:/usr/bin:/bin"
_TMP_BYTES = 16 << 20       # each of the sandbox's /tmp and /dev/shm (RAM)
_DRAIN_SECONDS = 1.0        # after the child exits, how long stragglers may hold its pipes
# The host trees the interpreter (and coreutils, for the probe) need; a symlink
# (merged /usr) is recreated as one.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache",)
_PACKAGE_DIRS = ("site-packages", "dist-packages")
_PACKAGE_GLOBS = ("", "python*/", "lib*/python*/", "local/lib*/python*/")


class SandboxUnavailable(RuntimeError):
    """require_sandbox=True but bubblewrap is missing or does not work here."""


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60
    cpu_seconds: int = 60            # per process (RLIMIT_CPU)
    memory_bytes: int = 2 << 30      # RLIMIT_AS per process, and the cgroup's limit for all
    max_processes: int = 64          # RLIMIT_NPROC for the child's uid
    max_output_bytes: int = 1 << 20  # kept per stream; the rest is read and dropped
    max_file_bytes: int = 64 << 20   # RLIMIT_FSIZE
    scratch_bytes: int = 64 << 20    # size of the scratch tmpfs (sandbox only)
    max_open_files: int = 256        # RLIMIT_NOFILE


@dataclass
class Result:
    returncode: int | None  # None if killed at the wall limit; 128+N for death by signal N
    stdout: str
    stderr: str
    timed_out: bool
    output_truncated: bool
    seconds: float
    sandboxed: bool
    # What the child wrote to fd 3, at most channel_bytes: the buffer it was read into, not a
    # copy, so that a full channel is held once (the grader's memory bound counts it once).
    channel: bytes | bytearray = b""
    channel_overflow: bool = False   # it wrote more, and was killed for it
    memory_peak: int | None = None   # bytes, from the cgroup (None without one)
    memory_exceeded: bool = False    # the cgroup's limit was hit
    isolation: tuple[str, ...] = ()  # what held: "bubblewrap", "seccomp", "cgroup-v1"/"cgroup-v2"


def python_executable() -> Path:
    """The real interpreter behind this one (a venv's python is a symlink to it)."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable).resolve()


def python_paths() -> list[Path]:
    """What ``python_executable()`` needs, to pass as ``read_only``.

    The executable, its standard library (with lib-dynload) and libpython if
    it is shared; no site-packages: the sandbox covers those found inside
    these trees, and a package the child may import is bound explicitly.
    """
    exe = python_executable()
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
    found = {exe}
    paths = sysconfig.get_paths(vars=base)
    found |= {Path(paths["stdlib"]), Path(paths["platstdlib"])}
    if sysconfig.get_config_var("DESTSHARED"):
        found.add(Path(sysconfig.get_config_var("DESTSHARED")))
    soname = sysconfig.get_config_var("INSTSONAME")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and soname:
        for libdir in (sysconfig.get_config_var("LIBDIR"), exe.parent.parent / "lib"):
            if libdir:
                found.add(Path(libdir) / soname)  # by this name: the loader asks for it
    found = {_real_parent(p) for p in found if p.exists()}
    return sorted(p for p in found if not any(q in p.parents for q in found))


def available() -> bool:
    """bwrap is installed and a real sandbox (with the uid drop, as root) starts here."""
    return _probe()


@functools.cache
def _probe() -> bool:
    if not shutil.which("bwrap") or (os.geteuid() == 0 and not shutil.which("setpriv")):
        return False
    return probe(BUBBLEWRAP)


def probe(backend: Backend) -> bool:
    """Whether ``true`` runs to success through ``backend`` here (without a cgroup): what a
    backend's ``available()`` may use once its programs are found."""
    try:
        res = _run(["true"], (), (), {}, Limits(wall_seconds=20), backend, b"", 0, use_cgroup=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0 and not res.timed_out


# -- backends: how the child is wrapped -------------------------------------------
#
# Everything else (rlimits, the cgroup, the wall clock, stdin, the bounded
# outputs and channel, killing what is left) is run()'s, the same for every
# backend.  A new backend (a container runtime, say) is one module with a
# class like these two, registered by name: ``sandbox.register(Podman())``,
# or named as "module:attribute" wherever a backend's name is taken.


@dataclass(frozen=True)
class Launch:
    """What a backend made of one run: run() starts ``argv`` in ``cwd`` under the shared limits."""
    argv: list[str]
    cwd: str                         # where ``argv`` starts, on the host
    scratch: str                     # the child's working directory, HOME and TMPDIR, as the child sees them
    isolation: tuple[str, ...] = ()  # what the backend made hold, first in Result.isolation
    # Bytes the wrapper reads on these fds (each a pipe filled before the start, so at most
    # _FD_BYTES each; not 0-2 or CHANNEL_FD).
    fds: Mapping[int, bytes] = field(default_factory=dict)


class Backend(Protocol):
    """How run() wraps the child.  ``name`` is what config and command line call it.

    ``isolates = True`` (which ``require_sandbox=True``, and so grading,
    demands) is a promise that, for everything the child starts:

    - there is no network at all, and no host socket (UNIX ones included) or
      IPC object is reachable;
    - only the system trees, ``/etc/ld.so.cache`` and ``read_only`` are
      visible, none writable, with every site-/dist-packages directory inside
      them covered (unless bound through ``read_only``) and ``hide`` covered;
      nothing else of the host (home directories, host ``/tmp``, ``/run``...);
    - the working directory ``Launch.scratch`` is private, at most
      ``Limits.scratch_bytes``, and gone after the run;
    - it has its own PID namespace, and nothing it started outlives the
      process run() started (the harness, believing it is alone, kills every
      other process it can see: without the namespace those are the host's);
    - as root, it runs as an unprivileged uid without capabilities
      (``RLIMIT_NPROC`` binds no root process).

    Every backend must keep what run() sets up: the rlimits and the cgroup
    (inherited through exec), stdin, stdout and stderr, and fd ``CHANNEL_FD``
    passed through to the child; and it must run the child in the process group
    run() starts, so killing that group ends the run.

    ``isolates = False`` promises only that (see "without bubblewrap" in the
    module docstring): the filesystem, the network and the instructor's files
    stay reachable, and a child that calls ``setsid()`` escapes the kill where
    there is no cgroup.
    """
    name: str
    isolates: bool
    host_scratch: bool  # run() makes a scratch directory on the host for each run, and removes it after
    requires: str       # what to install where it is unavailable (for the error that says so)

    def available(self) -> bool:
        """Whether it works on this machine (may be slow the first time: cache it)."""
        ...

    def launch(self, argv: list[str], *, read_only: list[Path], hide: Sequence[Path], limits: Limits,
               scratch: Path | None) -> Launch:
        """How to start ``argv``; ``scratch``: the host directory run() made (``host_scratch``)."""
        ...


class Bubblewrap:
    """bwrap, with setpriv as root and the seccomp filter where supported (the module docstring)."""
    name = "bubblewrap"
    isolates = True
    host_scratch = False  # a tmpfs inside
    requires = "apt-get install bubblewrap; as root, util-linux's setpriv too"

    def available(self) -> bool:
        return available()  # the module's, looked up at call time: the tests stand in for it

    def launch(self, argv: list[str], *, read_only: list[Path], hide: Sequence[Path], limits: Limits,
               scratch: Path | None) -> Launch:
        filtered = seccomp.supported()
        # As root, a fresh uid per run: its process count starts at 0 and it owns nothing.
        uid = 1_500_000_000 + secrets.randbelow(1 << 24) if os.geteuid() == 0 else None
        return Launch(_bwrap_argv(argv, hide, read_only, uid, limits, filtered), cwd="/", scratch=str(SCRATCH),
                      isolation=("bubblewrap",) + ("seccomp",) * filtered,
                      fds={_SECCOMP_FD: seccomp.program()} if filtered else {})


class LimitsOnly:
    """The child as it is, under run()'s limits alone, in a scratch directory on the host."""
    name = "limits-only"
    isolates = False
    host_scratch = True
    requires = ""

    def available(self) -> bool:
        return True

    def launch(self, argv: list[str], *, read_only: list[Path], hide: Sequence[Path], limits: Limits,
               scratch: Path | None) -> Launch:
        return Launch(list(argv), cwd=str(scratch), scratch=str(scratch))


BUBBLEWRAP, LIMITS_ONLY = Bubblewrap(), LimitsOnly()
# name -> backend, or "module:attribute" of one (imported when first asked for)
BACKENDS: dict[str, Backend | str] = {BUBBLEWRAP.name: BUBBLEWRAP, LIMITS_ONLY.name: LIMITS_ONLY}


def register(backend: Backend) -> Backend:
    """Make ``backend`` known by its name (in this process: a pool's or Dask's workers import
    their own copy of the kit, so a backend they use is better named "module:attribute")."""
    BACKENDS[backend.name] = backend
    return backend


def backend_for(name: str | Backend | None = None, *, use_sandbox: bool = True,
                require_sandbox: bool = False) -> Backend:
    """The one place a backend is chosen; SandboxUnavailable (one line, naming it) if it cannot run.

    ``name``: registered, or "module:attribute"; none: bubblewrap where it works, else
    limits-only.  ``use_sandbox=False`` is limits-only; ``require_sandbox`` refuses a backend
    that does not isolate.
    """
    if not use_sandbox:
        if require_sandbox:
            raise SandboxUnavailable("require_sandbox=True contradicts use_sandbox=False")
        if name and _lookup(name) is not LIMITS_ONLY:
            raise SandboxUnavailable(f"use_sandbox=False contradicts the sandbox backend {_name(name)!r}")
        return LIMITS_ONLY
    if not name:
        chosen = BUBBLEWRAP if BUBBLEWRAP.available() else LIMITS_ONLY
        if require_sandbox and chosen is LIMITS_ONLY:
            raise SandboxUnavailable(f"bubblewrap sandbox required but unavailable here ({BUBBLEWRAP.requires})")
        return chosen
    chosen = _lookup(name)
    if not chosen.available():
        raise SandboxUnavailable(f"sandbox backend {chosen.name!r} is not available on this machine"
                                 + (f" ({chosen.requires})" if chosen.requires else ""))
    if require_sandbox and not chosen.isolates:
        raise SandboxUnavailable(f"sandbox backend {chosen.name!r} does not isolate the child, "
                                 "and an isolating one is required")
    return chosen


def _lookup(name: str | Backend) -> Backend:
    if not isinstance(name, str):
        return name
    try:
        return resolve(BACKENDS, name, "sandbox backend")
    except LookupError as exc:
        raise SandboxUnavailable(str(exc)) from None


def _name(name: str | Backend) -> str:
    return name if isinstance(name, str) else name.name


def run(argv: Sequence[str], *, read_only: Sequence[Path] = (),
        env: Mapping[str, str] | None = None, limits: Limits = Limits(),
        require_sandbox: bool = False, use_sandbox: bool = True,
        stdin: bytes = b"", channel_bytes: int = 0, hide: Sequence[Path] = (),
        backend: str | Backend | None = None) -> Result:
    """Run ``argv`` in a fresh scratch directory under ``limits``; never raises for what
    the child does.

    ``env`` is added to a minimal environment (nothing is inherited).
    ``stdin`` is fed to the child's standard input (then closed; a child need
    not read it).  With ``channel_bytes > 0`` the child's fd 3 is the write
    end of a pipe whose first ``channel_bytes`` bytes come back in
    ``Result.channel``; writing more kills the child (``channel_overflow``).
    ``read_only`` and ``hide`` only mean something inside the sandbox.
    ``backend``, ``use_sandbox`` and ``require_sandbox``: see :func:`backend_for`
    (``use_sandbox=False`` forces the fallback: tests, debugging).
    """
    chosen = backend_for(backend, use_sandbox=use_sandbox, require_sandbox=require_sandbox)
    return _run(list(argv), read_only, hide, env or {}, limits, chosen, bytes(stdin), channel_bytes)


def _run(argv: list[str], read_only: Sequence[Path], hide: Sequence[Path],
         env: Mapping[str, str], limits: Limits, backend: Backend, stdin: bytes,
         channel_bytes: int, use_cgroup: bool = True) -> Result:
    read_only = [_real_parent(Path(p).absolute()) for p in read_only]
    for p in read_only:
        if not p.exists():
            raise FileNotFoundError(f"read_only path {p} does not exist")
    host_scratch = Path(tempfile.mkdtemp(prefix="coursekit-scratch-")) if backend.host_scratch else None
    try:
        launch = backend.launch(argv, read_only=read_only, hide=hide, limits=limits, scratch=host_scratch)
        return _spawn(launch, env, limits, backend.isolates, stdin, channel_bytes, use_cgroup)
    finally:
        if host_scratch is not None:
            _remove_tree(host_scratch)


def _spawn(launch: Launch, env: Mapping[str, str], limits: Limits, sandboxed: bool, stdin: bytes,
           channel_bytes: int, use_cgroup: bool) -> Result:
    for target, data in launch.fds.items():  # before any pipe is made: nothing to close
        if target <= 2 or target == CHANNEL_FD or len(data) > _FD_BYTES:
            raise ValueError(f"backend fd {target}: taken, or {len(data)} bytes do not fit its pipe")
    full_env = {"PATH": _PATH, "HOME": launch.scratch, "TMPDIR": launch.scratch,
                "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", **env}
    root = os.geteuid() == 0
    isolation = launch.isolation
    # The kernel ignores RLIMIT_NPROC for root (so it only bites after the
    # uid drop) and counts all of a non-root caller's own processes.
    nproc = limits.max_processes + (0 if root else _count_processes(os.geteuid()))
    _, nofile_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = limits.max_open_files if root or nofile_hard == resource.RLIM_INFINITY \
        else min(limits.max_open_files, nofile_hard)

    child_fds: dict[int, int] = {}  # the child's fd -> ours
    ours: list[int] = []
    channel_r = None
    if channel_bytes > 0:
        channel_r, channel_w = os.pipe()
        _widen(channel_w)
        child_fds[CHANNEL_FD] = channel_w
        ours += [channel_r, channel_w]
    for target, data in launch.fds.items():  # bwrap's seccomp filter, say
        data_r, data_w = os.pipe()
        ours += [data_r]
        with os.fdopen(data_w, "wb") as f:
            f.write(data)  # fits the pipe: written before anyone reads
        child_fds[target] = data_r
    cgroup = _Cgroup.create(limits.memory_bytes) if use_cgroup else None

    def child_setup() -> None:  # in the child, between fork and exec
        # Our pipe ends to their fixed numbers (via high ones: the targets may
        # be taken), then close every other inheritable fd: close_fds=False
        # because Popen would close those targets too.
        moved = {target: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
                 for target, fd in child_fds.items()}
        for target, fd in moved.items():
            os.dup2(fd, target)
        _close_inherited(keep=set(child_fds))
        if cgroup is not None:
            cgroup.join()
        for res, value in ((resource.RLIMIT_AS, limits.memory_bytes),
                           (resource.RLIMIT_FSIZE, limits.max_file_bytes),
                           (resource.RLIMIT_NOFILE, nofile),
                           (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value))
        # the soft limit sends SIGXCPU, the hard one a second later SIGKILL
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))

    start = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(
                launch.argv, cwd=launch.cwd, env=full_env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=False,
                start_new_session=True, preexec_fn=child_setup)
        except subprocess.SubprocessError:
            if cgroup is None:
                raise
            # Joining the cgroup failed after all: run without it.
            cgroup.finish()
            cgroup = None
            proc = subprocess.Popen(
                launch.argv, cwd=launch.cwd, env=full_env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=False,
                start_new_session=True, preexec_fn=child_setup)
        for fd in child_fds.values():  # the child's now; EOF on the channel needs ours closed
            os.close(fd)
            ours.remove(fd)
        with proc:
            try:
                got = _collect(proc, limits, start + limits.wall_seconds, stdin,
                               channel_r, channel_bytes)
            finally:
                _kill(proc.pid)  # timeout, leftovers in the group, or an exception
    finally:
        for fd in ours:
            os.close(fd)
        peak, exceeded = cgroup.finish() if cgroup is not None else (None, False)
    if cgroup is not None:
        isolation += (f"cgroup-v{cgroup.version}",)
    # Report death by signal N as 128+N, the way bwrap (and a shell) does.
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Result(returncode=None if got.timed_out else code,
                  stdout=got.out.decode("utf-8", "replace"),
                  stderr=got.err.decode("utf-8", "replace"),
                  timed_out=got.timed_out, output_truncated=got.truncated,
                  seconds=time.monotonic() - start, sandboxed=sandboxed,
                  channel=got.channel, channel_overflow=got.overflow,
                  memory_peak=peak, memory_exceeded=exceeded, isolation=isolation)


def _bwrap_argv(argv: list[str], hide: Sequence[Path], read_only: list[Path],
                uid: int | None, limits: Limits, filtered: bool) -> list[str]:
    # bwrap's root is an empty tmpfs: only what is mounted below exists.
    cmd = [shutil.which("bwrap") or "bwrap", "--die-with-parent",
           "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try",
           "--proc", "/proc", "--dev", "/dev",
           "--perms", "1777", "--size", str(_TMP_BYTES), "--tmpfs", "/dev/shm",
           "--perms", "1777", "--size", str(_TMP_BYTES), "--tmpfs", "/tmp",
           "--perms", "0777", "--size", str(limits.scratch_bytes), "--tmpfs", str(SCRATCH)]
    ops: list[tuple[Path, int, Path]] = []  # (where, kind, what): 0 cover, 1 bind read-only
    for name in _SYSTEM:
        p = Path(name)
        if p.is_symlink():
            cmd += ["--symlink", os.readlink(p), name]
        elif p.is_dir():
            ops.append((p, 1, p))
    ops += [(Path(f), 1, Path(f)) for f in _SYSTEM_FILES if Path(f).is_file()]
    ops += [(p, 1, p.resolve()) for p in read_only]
    trees = [where for where, _, _ in ops]
    # Parents before children, and at equal paths covering before exposing, so
    # a re-exposed path inside a covered directory is mounted on top of it.
    covers = set(_package_dirs(trees, explicit=set(read_only)))
    covers |= {p for p in (Path(h).absolute().resolve() for h in hide)
               if p.exists() and _inside(p, trees)}
    ops += [(p, 0, p) for p in covers]
    tmpfs = {Path("/"), Path("/tmp"), SCRATCH}  # mounts whose directories bwrap creates
    mounted = {Path("/"), Path("/tmp"), SCRATCH, Path("/dev"), Path("/proc")}
    made: set[Path] = set()
    remount = []
    for path, kind, source in sorted(set(ops)):
        # bwrap creates a mount point's missing parents with mode 0700, which
        # the unprivileged child could not walk through.
        for parent in reversed(path.parents):
            owner = next(m for m in (parent, *parent.parents) if m in mounted)  # the deepest mount
            if owner in tmpfs and owner != parent and parent not in made:
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        if kind == 0 and path.is_dir():
            cmd += ["--perms", "0755", "--tmpfs", str(path)]
            tmpfs.add(path)
            remount.append(path)
        elif kind == 0:
            cmd += ["--ro-bind", "/dev/null", str(path)]  # mounted nodev: opening it fails
        else:
            cmd += ["--ro-bind", str(source), str(path)]
        mounted.add(path)
    # Last: the binds above needed their mount points made.
    for p in [*remount, Path("/dev"), Path("/")]:
        cmd += ["--remount-ro", str(p)]
    cmd += ["--chdir", str(SCRATCH)]
    if filtered:
        cmd += ["--seccomp", str(_SECCOMP_FD)]
    if uid is not None:
        # bwrap runs privileged here (no user namespace: a mapped uid would
        # still be root to RLIMIT_NPROC); setpriv drops to `uid` with every
        # capability gone, bounding set included; bwrap already set no_new_privs.
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                "--", shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    return cmd + ["--", *argv]


def _package_dirs(trees: list[Path], explicit: set[Path]) -> list[Path]:
    """site-/dist-packages directories inside ``trees`` (but not those bound explicitly)."""
    real = set(_interpreter_package_dirs())
    for tree in trees:
        real |= _tree_package_dirs(tree)
    return sorted(p for p in real if p not in explicit and _inside(p, trees))


# Both below are looked up for every sandbox, mostly in the same few trees (the interpreter's):
# remembered for the life of the process, as the interpreter's own site-packages are.
@functools.lru_cache(maxsize=64)
def _tree_package_dirs(tree: Path) -> frozenset[Path]:
    found = {p for prefix in _PACKAGE_GLOBS for name in _PACKAGE_DIRS for p in tree.glob(prefix + name)}
    return frozenset(p.resolve() for p in found if p.is_dir())


@functools.lru_cache(maxsize=1)
def _interpreter_package_dirs() -> frozenset[Path]:
    """Wherever this interpreter, or the one behind it, looks for packages."""
    found = {Path(p) for p in site.getsitepackages()}
    found.update(Path(sysconfig.get_paths(scheme=s)[k]) for s in sysconfig.get_scheme_names()
                 for k in ("purelib", "platlib") if s.startswith("posix"))
    found.add(Path(site.getusersitepackages()))
    return frozenset(p.resolve() for p in found if p.is_dir())


def _inside(path: Path, trees: list[Path]) -> bool:
    return any(t == path or t in path.parents for t in trees)


def _real_parent(path: Path) -> Path:
    """``path`` with its directories resolved but not its last component."""
    return path.parent.resolve() / path.name if path.name else path.resolve()


def _close_inherited(keep: set[int]) -> None:
    """Close every fd above 2 that would survive exec, except ``keep``."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 4096))
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    os.close(fd)
            except OSError:
                pass  # the listing's own fd, gone by now


@dataclass
class _Collected:
    out: bytes
    err: bytes
    truncated: bool
    timed_out: bool
    channel: bytearray
    overflow: bool


def _collect(proc: subprocess.Popen, limits: Limits, deadline: float, stdin: bytes,
             channel_fd: int | None, channel_bytes: int) -> _Collected:
    """Feed stdin and read every pipe until the child is gone.

    Keeps at most max_output_bytes of each output stream; reading on after the
    cap (and dropping the bytes) keeps a chatty child from blocking on a full
    pipe.  Stdin is written only as the child takes it, so a child that never
    reads cannot block us.  Exit is noticed through a pidfd, but the child is
    reaped only by the caller, so its process group id cannot be reused
    before we kill what is left in the group.
    """
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    channel = bytearray()
    in_fd = proc.stdin.fileno() if proc.stdin else None
    pending = memoryview(stdin)
    pidfd = os.pidfd_open(proc.pid)
    truncated = timed_out = exited = overflow = False

    def close_stdin() -> None:
        nonlocal in_fd
        if in_fd is not None:
            sel.unregister(in_fd)
            proc.stdin.close()
            in_fd = None

    with selectors.DefaultSelector() as sel:
        for fd in (out_fd, err_fd, *([channel_fd] if channel_fd is not None else [])):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        if in_fd is not None:
            os.set_blocking(in_fd, False)
            sel.register(in_fd, selectors.EVENT_WRITE)
        sel.register(pidfd, selectors.EVENT_READ)
        try:
            while not exited or len(sel.get_map()) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = not exited
                    break
                for key, _ in sel.select(remaining):
                    if key.fd not in sel.get_map():
                        continue  # closed by an earlier event of this batch (stdin, at the child's exit)
                    if key.fd == pidfd:
                        exited = True
                        sel.unregister(pidfd)
                        close_stdin()
                        _killpg(proc.pid)  # leftovers in the group (fallback mode)
                        deadline = min(deadline, time.monotonic() + _DRAIN_SECONDS)
                    elif key.fd == in_fd:
                        try:
                            pending = pending[os.write(in_fd, pending[:1 << 16]):]
                        except BlockingIOError:
                            continue
                        except OSError:  # the child closed its end
                            pending = pending[:0]
                        if not pending:
                            close_stdin()
                    else:
                        chunk = os.read(key.fd, _READ_BYTES)
                        if not chunk:
                            sel.unregister(key.fd)
                        elif key.fd == channel_fd:
                            room = channel_bytes - len(channel)
                            if len(chunk) > room and not overflow:
                                overflow = True
                                _killpg(proc.pid)  # bwrap too: its namespace dies with it
                            channel += chunk[:max(room, 0)]
                        else:
                            buf = bufs[key.fd]
                            room = limits.max_output_bytes - len(buf)
                            truncated |= len(chunk) > room
                            buf += chunk[:max(room, 0)]
        finally:
            os.close(pidfd)
            if in_fd is not None:
                close_stdin()
    return _Collected(bytes(bufs[out_fd]), bytes(bufs[err_fd]), truncated, timed_out,
                      channel, overflow)


_READ_BYTES = 1 << 20


def _widen(fd: int) -> None:
    """A 1 MiB pipe (Linux's default limit for anyone) instead of 64 KiB: answers of several
    MB then cross in a few reads instead of hundreds."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _READ_BYTES)
    except (OSError, AttributeError):
        pass  # the default size works, only slower


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


def _remove_tree(path: Path) -> None:
    """Remove a fallback scratch directory whatever the child left in it; never raises.

    coreutils walk trees of any depth (shutil.rmtree recurses, and fails on
    deep ones); directories the child made unreadable get their owner's
    permissions back first.  Symbolic links are not followed.
    """
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL,
             "stderr": subprocess.DEVNULL, "timeout": 120}
    try:
        subprocess.run([shutil.which("chmod") or "/bin/chmod", "-R", "u+rwX", "--", str(path)],
                       **quiet)
        subprocess.run([shutil.which("rm") or "/bin/rm", "-rf", "--one-file-system", "--",
                        str(path)], **quiet)
    except (OSError, subprocess.SubprocessError):
        pass
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


class _Cgroup:
    """A memory cgroup for one run, below this process's own; None where we cannot make one."""

    def __init__(self, path: Path, version: int):
        self.path, self.version = path, version
        self._procs = str(path / "cgroup.procs")

    @classmethod
    def create(cls, limit: int) -> _Cgroup | None:
        for version, parent in _own_memory_cgroups():
            path = parent / f"coursekit-{secrets.token_hex(8)}"
            try:
                if version == 2 and "memory" not in \
                        (parent / "cgroup.subtree_control").read_text().split():
                    continue  # enabling it is not ours to do (and the no-internal-process rule)
                path.mkdir(mode=0o755)
            except OSError:
                continue
            group = cls(path, version)
            try:
                if version == 1:
                    _write(path / "memory.limit_in_bytes", limit)
                    if (path / "memory.memsw.limit_in_bytes").exists():  # no swap either
                        _write(path / "memory.memsw.limit_in_bytes", limit)
                else:
                    _write(path / "memory.max", limit)
                    if (path / "memory.swap.max").exists():
                        _write(path / "memory.swap.max", 0)
                return group
            except OSError:
                group.finish()
        return None

    def join(self) -> None:
        """Move the calling process in (the child, before exec)."""
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def finish(self) -> tuple[int | None, bool]:
        """Peak usage and whether the limit was hit; kill what is left, remove. Never raises."""
        peak, exceeded = None, False
        try:
            if self.version == 1:
                peak = int(_read(self.path / "memory.max_usage_in_bytes"))
                oom = _fields(_read(self.path / "memory.oom_control"))
                failures = int(_read(self.path / "memory.failcnt"))
                exceeded = failures > 0 or oom.get("oom_kill", 0) > 0
            else:
                if (self.path / "memory.peak").exists():
                    peak = int(_read(self.path / "memory.peak"))
                exceeded = _fields(_read(self.path / "memory.events")).get("oom_kill", 0) > 0
        except (OSError, ValueError):
            pass
        for _ in range(200):
            try:
                pids = [int(p) for p in _read(self.path / "cgroup.procs").split()]
            except (OSError, ValueError):
                pids = []
            if pids and self.version == 2 and (self.path / "cgroup.kill").exists():
                try:
                    _write(self.path / "cgroup.kill", 1)
                    pids = []
                except OSError:
                    pass
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                self.path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)  # dying processes, not yet released
        return peak, exceeded


def _own_memory_cgroups() -> list[tuple[int, Path]]:
    """(version, directory) of this process's memory cgroups, v1 first."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    mounts: dict[int, tuple[str, str]] = {}  # version -> (mount root, mount point)
    for line in mountinfo:
        fields = line.split()
        try:
            fstype, options = fields[fields.index("-") + 1], fields[fields.index("-") + 3]
        except (ValueError, IndexError):
            continue
        if fstype == "cgroup" and "memory" in options.split(","):
            mounts.setdefault(1, (fields[3], fields[4]))
        elif fstype == "cgroup2":
            mounts.setdefault(2, (fields[3], fields[4]))
    found = []
    for line in lines:
        hierarchy, controllers, own = line.split(":", 2)
        version = 1 if "memory" in controllers.split(",") else \
            2 if hierarchy == "0" and controllers == "" else None
        if version is None or version not in mounts:
            continue
        mount_root, mount_point = mounts[version]
        rel = os.path.relpath(own, mount_root)
        if rel.startswith(".."):
            continue  # our cgroup is not inside what is mounted
        path = Path(os.path.normpath(os.path.join(mount_point, rel)))
        if path.is_dir():
            found.append((version, path))
    return sorted(found)


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: Path, value: int) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _fields(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        try:
            count += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return count
