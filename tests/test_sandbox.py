"""The sandbox that runs student code: each test plays one hostile submission.

Tests of what only bubblewrap provides skip where it is unusable; set
COURSEKIT_REQUIRE_SANDBOX=1 (CI) to make that a failure instead.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from coursekit.autograde import sandbox
from coursekit.autograde.sandbox import Limits

NO_BWRAP = "bubblewrap missing or unusable here"
needs_bwrap = pytest.mark.skipif(not sandbox.available(), reason=NO_BWRAP)
FAST = Limits(wall_seconds=10, cpu_seconds=5, memory_bytes=1 << 30)


@pytest.fixture(params=["sandbox", "fallback"])
def mode(request) -> str:
    if request.param == "sandbox" and not sandbox.available():
        pytest.skip(NO_BWRAP)
    return request.param


@pytest.fixture
def scratch(tmp_path) -> Path:
    d = tmp_path / "scratch"
    d.mkdir()
    return d


@pytest.fixture
def host_dir():
    """A directory the sandbox can see unless it is hidden (its /tmp is private)."""
    d = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/var/tmp"))
    d.chmod(0o777)  # so only the sandbox, not file permissions, stops the child
    yield d
    shutil.rmtree(d)


def py(code: str, scratch: Path, mode: str = "sandbox", limits: Limits = FAST,
       args: tuple[str, ...] = (), read_only: tuple[Path, ...] = (), **kw) -> sandbox.Result:
    """Run python code in the sandbox (or, for mode='fallback', without it)."""
    return sandbox.run([sys.executable, "-c", code, *args], scratch=scratch,
                       read_only=[*sandbox.python_paths(), *read_only],
                       limits=limits, use_sandbox=mode == "sandbox", **kw)


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


def test_ordinary_run(mode, scratch):
    r = py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", scratch, mode)
    assert (r.returncode, r.stdout, r.stderr, r.timed_out) == (3, "out\n", "err\n", False)
    assert r.sandboxed == (mode == "sandbox")


def test_endless_loop_killed_at_wall_limit(mode, scratch):
    r = py("import time\nwhile True: time.sleep(1)", scratch, mode, Limits(wall_seconds=1))
    assert r.timed_out and r.returncode is None
    assert r.seconds < 4


def test_cpu_burner_killed(mode, scratch):
    r = py("while True: pass", scratch, mode, Limits(wall_seconds=20, cpu_seconds=1))
    assert not r.timed_out and r.returncode in (128 + 24, 128 + 9)  # SIGXCPU, then SIGKILL
    assert r.seconds < 5


def test_memory_hog_fails_alone(mode, scratch):
    r = py("b = bytearray(4 << 30); print('allocated')", scratch, mode,
           Limits(wall_seconds=10, memory_bytes=512 << 20))
    assert r.returncode != 0 and "MemoryError" in r.stderr and "allocated" not in r.stdout
    assert bytearray(64 << 20)  # the parent is unharmed


def test_huge_output_truncated_without_deadlock(mode, scratch):
    # 100 MB on each stream: a parent that read one pipe after the other would deadlock.
    code = ("import sys\nchunk = 'x' * (1 << 20)\n"
            "for _ in range(100):\n    sys.stdout.write(chunk); sys.stderr.write(chunk)\n")
    r = py(code, scratch, mode, Limits(wall_seconds=30, max_output_bytes=1 << 20))
    assert r.returncode == 0 and not r.timed_out  # the child got to write everything
    assert r.output_truncated
    assert r.stdout == "x" * (1 << 20) and r.stderr == "x" * (1 << 20)


def test_file_size_limit(mode, scratch):
    r = py("open('big', 'wb').write(b'x' * (8 << 20))", scratch, mode,
           Limits(wall_seconds=10, max_file_bytes=1 << 20))
    assert r.returncode != 0
    assert (scratch / "big").stat().st_size <= 1 << 20


def test_environment_scrubbed(mode, scratch, monkeypatch):
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "s3cret")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    code = "import os, json; print(json.dumps(dict(os.environ)))"
    r = py(code, scratch, mode, env={"EXTRA": "1"})
    assert "s3cret" not in r.stdout and "PYTHONPATH" not in r.stdout
    env = json.loads(r.stdout)
    assert env["HOME"] == str(scratch) and env["EXTRA"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


SLEEPER = "[sys.executable, '-c', 'import time; time.sleep(100)', {marker!r}]"


def test_fallback_kills_its_process_group(scratch):
    marker = f"bg-{uuid.uuid4().hex}"
    code = f"import subprocess, sys; subprocess.Popen({SLEEPER.format(marker=marker)})"
    r = py(code, scratch, "fallback")
    assert r.returncode == 0 and r.seconds < 5
    assert alive_with(marker) == []


def test_require_sandbox_fails_closed(scratch, monkeypatch):
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.run(["true"], scratch=scratch, use_sandbox=False, require_sandbox=True)
    monkeypatch.setattr(sandbox, "available", lambda: False)
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.run(["true"], scratch=scratch, require_sandbox=True)
    assert not sandbox.run(["true"], scratch=scratch).sandboxed  # without require: falls back


# -- what only the bubblewrap sandbox promises ---------------------------------

@needs_bwrap
def test_background_process_does_not_outlive_run(scratch):
    marker = f"bg-{uuid.uuid4().hex}"
    # It even leaves the session: only the PID namespace can catch it.
    code = ("import subprocess, sys\n"
            f"subprocess.Popen({SLEEPER.format(marker=marker)}, start_new_session=True)\n"
            "print('started')")
    r = py(code, scratch)
    assert r.returncode == 0 and r.stdout == "started\n" and r.seconds < 5
    assert alive_with(marker) == []


@needs_bwrap
def test_fork_bomb_contained(scratch):
    marker = f"bomb-{uuid.uuid4().hex}"
    code = ("import os, time\nn = 0\n"
            "for _ in range(2000):\n"
            "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
            "    if pid == 0:\n        time.sleep(100); os._exit(0)\n"
            "    n += 1\n"
            "print(n)")
    r = py(code, scratch, limits=Limits(wall_seconds=20, max_processes=32), args=(marker,))
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) < 32  # the process cap stopped it
    assert alive_with(marker) == []


@needs_bwrap
def test_wall_limit_kills_the_whole_sandbox(scratch):
    marker = f"bg-{uuid.uuid4().hex}"
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\ntime.sleep(100)"
    r = py(code, scratch, limits=Limits(wall_seconds=1), args=(marker,))
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


def test_network_reachable_without_sandbox(scratch, server):
    # The control: the probe below does detect a reachable server.
    assert py(CONNECT, scratch, "fallback", args=(str(server),)).stdout == "connected\n"


@needs_bwrap
def test_no_network(scratch, server):
    r = py(CONNECT, scratch, args=(str(server),))
    assert r.stdout.startswith("blocked"), r.stdout


READ = ("import os, sys\nfor p in sys.argv[1:]:\n"
        "    try:\n        print(p, os.listdir(p) if os.path.isdir(p) else open(p).read())\n"
        "    except OSError as e:\n        print(p, 'error', e.errno)")


@needs_bwrap
def test_hidden_paths(scratch, host_dir):
    instructor = host_dir / "instructor"
    (instructor / "checks").mkdir(parents=True)
    (instructor / "solution.py").write_text("SECRET-SOLUTION")
    (instructor / "checks" / "check.py").write_text("CHECK-CODE")
    gradebook = host_dir / "gradebook.db"
    gradebook.write_text("SECRET-GRADES")
    for p in (instructor, instructor / "checks"):
        p.chmod(0o755)
    paths = (str(instructor), str(instructor / "solution.py"), str(gradebook))

    seen = py(READ, scratch, args=paths)  # the control: visible unless hidden
    assert "SECRET-SOLUTION" in seen.stdout and "SECRET-GRADES" in seen.stdout

    r = py(READ, scratch, args=(*paths, str(instructor / "checks" / "check.py")),
           hide=[instructor, gradebook], read_only=(instructor / "checks",))
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
def test_writes_only_in_scratch(scratch, host_dir):
    ro = host_dir / "ro"
    ro.mkdir()
    ro.chmod(0o777)
    targets = [host_dir / "outside", ro / "inside-read-only",
               Path(__file__).parent / "sandbox-probe", scratch / "ok"]
    r = py(WRITE, scratch, args=tuple(map(str, targets)), read_only=(ro,))
    assert r.stdout.splitlines() == [f"denied {t}" for t in targets[:3]] + [f"wrote {targets[3]}"]
    assert [t.exists() for t in targets] == [False, False, False, True]


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop happens only when grading as root")
def test_root_caller_runs_child_unprivileged(scratch):
    r = py("import os; print(os.getuid(), open('/proc/self/status').read())", scratch)
    uid, status = r.stdout.split(" ", 1)
    assert int(uid) != 0
    assert "CapEff:\t0000000000000000" in status and "NoNewPrivs:\t1" in status
