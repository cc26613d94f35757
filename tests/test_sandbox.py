"""The sandbox that runs student code: each test plays one hostile submission.

Tests of what only bubblewrap provides skip where it is unusable; set
COURSEKIT_REQUIRE_SANDBOX=1 (CI) to make that a failure instead.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path

import numpy
import pytest

from coursekit.autograde import sandbox, seccomp
from coursekit.autograde.sandbox import Limits

NO_BWRAP = "bubblewrap missing or unusable here"
needs_bwrap = pytest.mark.skipif(not sandbox.available(), reason=NO_BWRAP)
needs_seccomp = pytest.mark.skipif(not (sandbox.available() and seccomp.supported()),
                                   reason="the seccomp filter needs bubblewrap on x86_64")
FAST = Limits(wall_seconds=10, cpu_seconds=5, memory_bytes=1 << 30)
PYTHON = str(sandbox.python_executable())
MB = 1 << 20


@pytest.fixture(params=["sandbox", "fallback"])
def mode(request) -> str:
    if request.param == "sandbox" and not sandbox.available():
        pytest.skip(NO_BWRAP)
    return request.param


@pytest.fixture
def host_dir():
    """A host directory outside the sandbox's allow-list (its /tmp is private)."""
    d = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/var/tmp"))
    d.chmod(0o777)  # so only the sandbox, not file permissions, stops the child
    yield d
    shutil.rmtree(d)


def py(code: str, mode: str = "sandbox", limits: Limits = FAST,
       args: tuple[str, ...] = (), read_only: tuple[Path, ...] = (), **kw) -> sandbox.Result:
    """Run python code in the sandbox (or, for mode='fallback', without it)."""
    return sandbox.run([PYTHON, "-c", code, *args],
                       read_only=[*sandbox.python_paths(), *read_only],
                       limits=limits, use_sandbox=mode == "sandbox", **kw)


@functools.cache
def cgroup_kind() -> str | None:
    held = sandbox.run(["true"], use_sandbox=False).isolation
    kinds = [k for k in held if k.startswith("cgroup")]
    return kinds[0] if kinds else None


def alive_with(marker: str) -> list[int]:
    """Pids of host processes whose command line contains marker."""
    pids = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and marker.encode() in Path(entry.path, "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1",
                    reason="COURSEKIT_REQUIRE_SANDBOX=1 not set")
def test_sandbox_available_when_required():
    assert sandbox.available(), NO_BWRAP


def test_ordinary_run(mode):
    r = py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", mode)
    assert (r.returncode, r.stdout, r.stderr, r.timed_out) == (3, "out\n", "err\n", False)
    assert r.sandboxed == (mode == "sandbox")
    assert ("bubblewrap" in r.isolation) == (mode == "sandbox")
    assert ("seccomp" in r.isolation) == (mode == "sandbox" and seccomp.supported())
    assert (cgroup_kind() in r.isolation) if cgroup_kind() else r.memory_peak is None


def test_endless_loop_killed_at_wall_limit(mode):
    r = py("import time\nwhile True: time.sleep(1)", mode, Limits(wall_seconds=1))
    assert r.timed_out and r.returncode is None
    assert r.seconds < 4


def test_cpu_burner_killed(mode):
    r = py("while True: pass", mode, Limits(wall_seconds=20, cpu_seconds=1))
    assert not r.timed_out and r.returncode in (128 + 24, 128 + 9)  # SIGXCPU, then SIGKILL
    assert r.seconds < 5


def test_memory_hog_fails_alone(mode):
    r = py("b = bytearray(4 << 30); print('allocated')", mode,
           Limits(wall_seconds=10, memory_bytes=512 << 20))
    assert r.returncode != 0 and "MemoryError" in r.stderr and "allocated" not in r.stdout
    assert bytearray(64 << 20)  # the parent is unharmed


def test_huge_output_truncated_without_deadlock(mode):
    # 100 MB on each stream: a parent that read one pipe after the other would deadlock.
    code = ("import sys\nchunk = 'x' * (1 << 20)\n"
            "for _ in range(100):\n    sys.stdout.write(chunk); sys.stderr.write(chunk)\n")
    r = py(code, mode, Limits(wall_seconds=30, max_output_bytes=MB))
    assert r.returncode == 0 and not r.timed_out  # the child got to write everything
    assert r.output_truncated
    assert r.stdout == "x" * MB and r.stderr == "x" * MB


def test_file_size_limit(mode):
    code = ("import os\ntry:\n    open('big', 'wb').write(b'x' * (8 << 20))\n"
            "except OSError as e:\n    print('refused', e.errno)\nprint(os.path.getsize('big'))")
    r = py(code, mode, Limits(wall_seconds=10, max_file_bytes=MB))
    assert r.stdout.startswith("refused 27")  # EFBIG (SIGXFSZ is ignored by python)
    assert int(r.stdout.split()[-1]) <= MB


def test_environment_scrubbed(mode, monkeypatch):
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "s3cret")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    code = "import os, json; print(json.dumps({**os.environ, 'cwd': os.getcwd()}))"
    r = py(code, mode, env={"EXTRA": "1"})
    assert "s3cret" not in r.stdout and "PYTHONPATH" not in r.stdout
    env = json.loads(r.stdout)
    assert env["HOME"] == env["TMPDIR"] == env["cwd"] and env["EXTRA"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    if mode == "sandbox":
        assert env["cwd"] == "/scratch"
    else:
        assert not os.path.lexists(env["cwd"])  # the fallback's scratch is gone


def test_only_the_expected_fds_are_inherited(mode):
    leak = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(leak, True)  # as a careless library in the grader might
    try:
        code = "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))"
        with_channel = py(code, mode, channel_bytes=10)
        without = py(code, mode)
    finally:
        os.close(leak)
    # the last one is listdir's own
    assert json.loads(with_channel.stdout)[:-1] == [0, 1, 2, sandbox.CHANNEL_FD]
    assert json.loads(without.stdout)[:-1] == [0, 1, 2]


SLEEPER = "[sys.executable, '-c', 'import time; time.sleep(100)', {marker!r}]"


def test_fallback_kills_its_process_group():
    marker = f"bg-{uuid.uuid4().hex}"
    code = f"import subprocess, sys; subprocess.Popen({SLEEPER.format(marker=marker)})"
    r = py(code, "fallback")
    assert r.returncode == 0 and r.seconds < 5
    assert alive_with(marker) == []


def test_require_sandbox_fails_closed(monkeypatch):
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.run(["true"], use_sandbox=False, require_sandbox=True)
    monkeypatch.setattr(sandbox, "available", lambda: False)
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.run(["true"], require_sandbox=True)
    assert not sandbox.run(["true"]).sandboxed  # without require: falls back


# -- stdin and the channel on fd 3 -----------------------------------------------

ECHO = ("import os, sys\ndata = sys.stdin.buffer.read()\n"
        "view = memoryview(data)\nwhile view:\n    view = view[os.write(3, view):]\n"
        "print(len(data))")


def test_stdin_round_trip_through_the_channel(mode):
    data = os.urandom(300_000)  # more than a pipe holds, both ways
    r = py(ECHO, mode, stdin=data, channel_bytes=MB)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{len(data)}\n" and r.channel == data and not r.channel_overflow


def test_channel_overflow_kills_the_child(mode):
    code = "import os, time\nfor _ in range(64):\n    os.write(3, b'x' * 65536)\ntime.sleep(30)"
    r = py(code, mode, channel_bytes=1000)
    assert r.channel_overflow and r.channel == b"x" * 1000
    assert not r.timed_out and r.returncode == 128 + 9 and r.seconds < 5


def test_child_that_never_reads_stdin_does_not_hang(mode):
    r = py("import time; time.sleep(0.2); print('done')", mode, stdin=b"y" * MB)
    assert r.returncode == 0 and r.stdout == "done\n" and r.seconds < 3


# -- fallback scratch ------------------------------------------------------------

def test_fallback_scratch_always_removed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    victim.chmod(0o600)
    code = ("import os, sys\nroot = os.getcwd(); print(root)\n"
            "os.symlink(sys.argv[1], 'link')\n"  # must not be followed
            "os.mkfifo('fifo')\n"
            "os.makedirs('locked/inner'); open('locked/inner/f', 'w').write('x')\n"
            "os.chmod('locked/inner', 0); os.chmod('locked', 0)\n"
            "for _ in range(5000):\n    os.mkdir('d'); os.chdir('d')\n"
            "open('bottom', 'w').write('x')\n")
    r = py(code, "fallback", args=(str(victim),), limits=Limits(wall_seconds=20))
    assert r.returncode == 0, r.stderr
    scratch = Path(r.stdout.split()[0])
    assert scratch.is_absolute() and not os.path.lexists(scratch)
    assert victim.read_text() == "keep" and victim.stat().st_mode & 0o777 == 0o600


# -- what only the bubblewrap sandbox promises ---------------------------------

@needs_bwrap
def test_background_process_does_not_outlive_run():
    marker = f"bg-{uuid.uuid4().hex}"
    # It even leaves the session: only the PID namespace can catch it.
    code = ("import subprocess, sys\n"
            f"subprocess.Popen({SLEEPER.format(marker=marker)}, start_new_session=True)\n"
            "print('started')")
    r = py(code)
    assert r.returncode == 0 and r.stdout == "started\n" and r.seconds < 5
    assert alive_with(marker) == []


@needs_bwrap
def test_fork_bomb_contained():
    marker = f"bomb-{uuid.uuid4().hex}"
    code = ("import os, time\nn = 0\n"
            "for _ in range(2000):\n"
            "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
            "    if pid == 0:\n        time.sleep(100); os._exit(0)\n"
            "    n += 1\n"
            "print(n)")
    r = py(code, limits=Limits(wall_seconds=20, max_processes=32), args=(marker,))
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) < 32  # the process cap stopped it
    assert alive_with(marker) == []


@needs_bwrap
def test_wall_limit_kills_the_whole_sandbox():
    marker = f"bg-{uuid.uuid4().hex}"
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\ntime.sleep(100)"
    r = py(code, limits=Limits(wall_seconds=1), args=(marker,))
    assert r.timed_out
    assert alive_with(marker) == []  # both, at once: run() waits for the namespace to empty


@pytest.fixture
def server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


CONNECT = ("import socket, sys\ntry:\n"
           "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)\n"
           "    print('connected')\nexcept OSError as e:\n    print('blocked', e)")


def test_network_reachable_without_sandbox(server):
    # The control: the probe below does detect a reachable server.
    assert py(CONNECT, "fallback", args=(str(server),)).stdout == "connected\n"


@needs_bwrap
def test_no_network(server):
    r = py(CONNECT, args=(str(server),))
    assert r.stdout.startswith("blocked"), r.stdout


@pytest.fixture
def unix_servers(host_dir):
    """Listening UNIX sockets like a database's, in /var/tmp and (if we may) /run."""
    paths = [host_dir / "db.sock"]
    if os.access("/run", os.W_OK):
        paths.append(Path(f"/run/coursekit-test-{uuid.uuid4().hex}.sock"))
    servers = []
    for path in paths:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.listen()
        path.chmod(0o777)
        servers.append(s)
    yield paths
    for s, path in zip(servers, paths):
        s.close()
        path.unlink(missing_ok=True)


CONNECT_UNIX = ("import json, os, socket, sys\nout = {}\nfor p in sys.argv[1:]:\n"
                "    try:\n        socket.socket(socket.AF_UNIX).connect(p); got = 'connected'\n"
                "    except OSError as e:\n        got = e.errno\n"
                "    out[p] = [os.path.exists(p), got]\nprint(json.dumps(out))")


def test_host_unix_socket_reachable_without_sandbox(unix_servers):
    r = py(CONNECT_UNIX, "fallback", args=tuple(map(str, unix_servers)))
    assert json.loads(r.stdout) == {str(p): [True, "connected"] for p in unix_servers}


@needs_bwrap
def test_host_unix_socket_unreachable(unix_servers):
    r = py(CONNECT_UNIX, args=tuple(map(str, unix_servers)))
    refused = 1 if seccomp.supported() else 2  # EPERM from the filter, else ENOENT
    assert json.loads(r.stdout) == {str(p): [False, refused] for p in unix_servers}, r.stderr


EXISTS = "import json, os, sys; print(json.dumps([os.path.lexists(p) for p in sys.argv[1:]]))"


@needs_bwrap
def test_host_trees_absent(tmp_path):
    (tmp_path / "host-tmp-file").write_text("x")
    bound = sandbox.python_paths()
    probes = [tmp_path / "host-tmp-file", Path("/etc/passwd"), Path("/etc/hostname")]
    for top in ("/run", "/var", "/home", "/root", "/opt", "/srv", "/mnt", "/media", "/boot",
                "/sys", "/work"):
        if Path(top).is_dir():
            probes += [Path(top), *sorted(Path(top).iterdir())[:20]]
    # what leads to a bound path is there; nothing else
    probes = [p for p in probes if p.exists() and not any(p == b or p in b.parents for b in bound)]
    assert len(probes) > 5
    r = py(EXISTS, args=tuple(map(str, probes)))
    assert dict(zip(map(str, probes), json.loads(r.stdout))) == {str(p): False for p in probes}


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent.parent if spec and spec.origin else None


@needs_bwrap
def test_site_packages_are_empty():
    installed = [m for m in ("torch", "pytest", "numpy") if package_dir(m)]
    assert installed
    site_dirs = sorted({str(package_dir(m)) for m in installed})
    system = [str(p) for p in (*Path("/usr/lib").glob("python3*/dist-packages"),
                               *Path("/usr/local/lib").glob("python3*/*-packages"))
              if p.is_dir() and any(p.iterdir())]
    code = ("import importlib.util, json, os, sys\nmods, dirs = json.loads(sys.argv[1])\n"
            "sys.path[:0] = dirs\n"  # the student knows where they are
            "print(json.dumps([[m for m in mods if importlib.util.find_spec(m)],\n"
            "                  [d for d in dirs if os.path.isdir(d) and os.listdir(d)]]))")
    arg = json.dumps([installed, site_dirs + system])
    assert json.loads(py(code, "fallback", args=(arg,)).stdout)[0] == installed  # the control
    r = py(code, args=(arg,))
    assert json.loads(r.stdout) == [[], []], r.stderr


@needs_bwrap
def test_numpy_when_bound_explicitly(tmp_path):
    numpy_dir = Path(numpy.__file__).resolve().parent
    site = tmp_path / "site"
    site.mkdir()
    bound = [site]
    for path in (numpy_dir, numpy_dir.parent / "numpy.libs"):
        if path.exists():
            (site / path.name).symlink_to(path)
            bound.append(path)
    tmp_path.chmod(0o755)
    code = ("import numpy, importlib.util\na = numpy.arange(9.0).reshape(3, 3)\n"
            "print((a @ a).sum(), importlib.util.find_spec('torch'))")
    r = py(code, read_only=tuple(bound),
           env={"PYTHONPATH": str(site), "OPENBLAS_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    a = numpy.arange(9.0).reshape(3, 3)
    assert r.stdout == f"{(a @ a).sum()} None\n"


FILL = ("import json, os, sys\nout = {}\nfor d in sys.argv[1:]:\n    n = 0\n"
        "    try:\n        with open(os.path.join(d, 'fill'), 'wb') as f:\n"
        "            for _ in range(200):\n"
        "                n += f.write(b'x' * (1 << 20)); f.flush()\n"
        "        err = None\n    except OSError as e:\n        err = e.errno\n"
        "    os.unlink(os.path.join(d, 'fill'))\n    out[d] = [n, err]\n"
        "print(json.dumps(out))")


@needs_bwrap
def test_scratch_tmp_and_shm_are_capped():
    limits = Limits(wall_seconds=10, scratch_bytes=32 * MB, max_file_bytes=512 * MB)
    r = py(FILL, limits=limits, args=(".", "/tmp", "/dev/shm"))
    got = json.loads(r.stdout)
    assert got["."][1] == 28  # ENOSPC
    assert 28 * MB <= got["."][0] <= 32 * MB
    for d in ("/tmp", "/dev/shm"):
        assert got[d][1] == 28 and got[d][0] <= 16 * MB


@needs_bwrap
def test_hidden_paths(host_dir):
    instructor = host_dir / "instructor"
    (instructor / "checks").mkdir(parents=True)
    (instructor / "solution.py").write_text("SECRET-SOLUTION")
    (instructor / "checks" / "check.py").write_text("CHECK-CODE")
    gradebook = host_dir / "gradebook.db"
    gradebook.write_text("SECRET-GRADES")
    for p in (instructor, instructor / "checks"):
        p.chmod(0o755)
    paths = (str(instructor), str(instructor / "solution.py"), str(gradebook))
    read = ("import os, sys\nfor p in sys.argv[1:]:\n"
            "    try:\n        print(p, os.listdir(p) if os.path.isdir(p) else open(p).read())\n"
            "    except OSError as e:\n        print(p, 'error', e.errno)")

    seen = py(read, args=paths, read_only=(host_dir,))  # the control: visible unless hidden
    assert "SECRET-SOLUTION" in seen.stdout and "SECRET-GRADES" in seen.stdout

    r = py(read, args=(*paths, str(instructor / "checks" / "check.py")),
           hide=[instructor, gradebook], read_only=(host_dir, instructor / "checks"))
    assert "SECRET" not in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0] == f"{instructor} ['checks']"  # empty but for what is re-exposed
    assert lines[1].startswith(f"{instructor / 'solution.py'} error")
    assert lines[2].startswith(f"{gradebook} error")  # /dev/null, mounted nodev
    assert lines[3] == f"{instructor / 'checks' / 'check.py'} CHECK-CODE"


WRITE = ("import sys\nfor p in sys.argv[1:]:\n"
         "    try:\n        open(p, 'w').write('x'); print('wrote', p)\n"
         "    except OSError as e:\n        print('denied', p)")


@needs_bwrap
def test_writes_only_in_scratch(host_dir):
    ro = host_dir / "ro"
    ro.mkdir()
    ro.chmod(0o777)
    name = f"sandbox-probe-{uuid.uuid4().hex}"
    targets = [host_dir / "outside", ro / "inside-read-only", Path("/usr") / name,
               Path("/") / name, Path("/etc") / name, Path("/dev") / name,
               Path(__file__).parent / name]
    r = py(WRITE, args=(*map(str, targets), "ok", "/tmp/ok"), read_only=(ro,))
    assert r.stdout.splitlines() == [f"denied {t}" for t in targets] + ["wrote ok", "wrote /tmp/ok"]
    assert not any(t.exists() for t in targets)
    # and not only for want of permission (the uid drop): every other mount is read-only
    mounts = py("print(open('/proc/self/mountinfo').read(), end='')").stdout.splitlines()
    writable = {line.split()[4] for line in mounts if "rw" in line.split()[5].split(",")}
    devices = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
    assert writable - devices == {"/scratch", "/tmp", "/dev/shm", "/dev/pts", "/proc"}


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop happens only when grading as root")
def test_root_caller_runs_child_unprivileged():
    r = py("import os; print(os.getuid(), open('/proc/self/status').read())")
    uid, status = r.stdout.split(" ", 1)
    assert int(uid) != 0
    assert "CapEff:\t0000000000000000" in status and "NoNewPrivs:\t1" in status


# -- seccomp -------------------------------------------------------------------

@needs_seccomp
def test_memfd_refused():
    code = ("import os\ntry:\n    os.memfd_create('hoard'); print('created')\n"
            "except OSError as e:\n    print('refused', e.errno)")
    assert py(code, "fallback").stdout == "created\n"  # the control
    assert py(code).stdout == "refused 1\n"  # EPERM


@needs_seccomp
def test_denied_syscalls_fail():
    # process_vm_writev on itself works unfiltered (the control; so would
    # ptrace(PTRACE_TRACEME), but a traced control would stop on its first signal).
    code = ("import ctypes, json, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "libc.syscall.restype = ctypes.c_long\nout = {}\n"
            "def call(nr, *args):\n    ctypes.set_errno(0)\n"
            "    res = libc.syscall(*(ctypes.c_long(a) for a in (nr, *args)))\n"
            "    return [res, ctypes.get_errno()]\n"
            "buf = ctypes.create_string_buffer(8)\n"
            "vec = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)\n"
            "iov = ctypes.addressof(vec)\n"
            "if sys.argv[1] != 'control':\n    out['ptrace'] = call(101, 0, 0, 0, 0)\n"
            "out['process_vm_writev'] = call(311, os.getpid(), iov, 1, iov, 1, 0)\n"
            "out['process_vm_readv'] = call(310, os.getpid(), iov, 1, iov, 1, 0)\n"
            "for name, nr in json.loads(sys.argv[1]).items() if sys.argv[1] != 'control' else ():\n"
            "    out.setdefault(name, call(nr, 0, 0, 0, 0, 0, 0))\n"
            "print(json.dumps(out))")
    arg = json.dumps({**seccomp.DENIED, **seccomp.NOT_IMPLEMENTED})
    control = json.loads(py(code, "fallback", args=("control",)).stdout)
    assert control["process_vm_writev"] == control["process_vm_readv"] == [8, 0]
    r = py(code, args=(arg,))
    expected = {name: [-1, 1] for name in seccomp.DENIED} | {"clone3": [-1, 38]}
    assert json.loads(r.stdout) == expected, r.stderr


@needs_seccomp
def test_i386_syscall_kills():
    # mov eax, 20 (getpid on i386); int 0x80; ret -- from executable memory
    code = ("import ctypes, mmap\n"
            "m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
            "m.write(bytes.fromhex('b814000000cd80c3'))\n"
            "f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))\n"
            "print('returned', f())")
    r = py(code)
    assert r.returncode == 128 + 31 and "returned" not in r.stdout  # SIGSYS


@needs_seccomp
def test_subprocesses_still_start():  # clone3 is ENOSYS: glibc falls back to clone
    r = py("import subprocess; print(subprocess.run(['echo', 'hi'], capture_output=True).stdout)")
    assert r.stdout == "b'hi\\n'\n", r.stderr


# -- cgroup --------------------------------------------------------------------

HOARD = ("import os, time\npids = []\nfor _ in range(4):\n    pid = os.fork()\n"
         "    if pid == 0:\n        b = b'\\x01' * (600 << 20)\n        time.sleep(0.5)\n"
         "        os._exit(0)\n    pids.append(pid)\n"
         "print([os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids])")


def test_memory_counts_all_processes(mode):
    if not cgroup_kind():
        pytest.skip("no memory cgroup can be made here")
    limit = 1 << 30
    r = py(HOARD, mode, Limits(wall_seconds=15, memory_bytes=limit))
    assert r.memory_exceeded, (r.stdout, r.stderr)
    assert r.memory_peak is not None and r.memory_peak <= limit + 16 * MB
    assert r.stdout == "" or -9 in json.loads(r.stdout)  # some were killed



def test_a_child_that_dies_with_input_pending_is_a_result_not_an_error(mode, monkeypatch):
    """The child's exit and its stdin's broken pipe can arrive in one batch of events (a busy
    grader polls late): stdin, closed for the exit, must not then be read as an output.  EBADF
    there made a harness killed while hidden inputs waited "could not be graded" on a loaded
    Dask worker.  A selector that polls late makes the batch certain."""
    import selectors

    class Late(selectors.DefaultSelector):
        def select(self, timeout=None):
            time.sleep(0.2)  # the child's exit and stdin's broken pipe both happen meanwhile
            # ... and the exit is handled first, as epoll may order them
            return sorted(super().select(timeout), key=lambda event: event[1] == selectors.EVENT_WRITE)

    monkeypatch.setattr(sandbox.selectors, "DefaultSelector", Late)
    for _ in range(3):
        r = py("import os, sys; sys.stdin.buffer.read(1); os._exit(3)", mode, stdin=b"x" * (8 * MB))
        assert r.returncode == 3, r.stderr
