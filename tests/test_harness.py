"""The harness in the sandbox: answers come only from the worker of the item asked, and only for
cases that did not raise.  Each test's student code reports what it managed to do; the harness
must have stopped every attempt.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from coursekit.autograde import sandbox
from coursekit.autograde.grader import GraderConfig, run_harness, write_kit

if os.environ.get("COURSEKIT_REQUIRE_SANDBOX") != "1" and not sandbox.available():
    pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)", allow_module_level=True)

LIMITS = sandbox.Limits(wall_seconds=5, cpu_seconds=5, memory_bytes=1 << 30, max_processes=16,
                        max_output_bytes=16 << 10, max_file_bytes=8 << 20)
CONFIG = GraderConfig(limits=LIMITS)

# Two probe checks: each calls the student's function of the same name on x.
PROBES = '''
import numpy as np
from coursekit.runtime.checks import Check, Checks

checks = Checks()
for _name in ("first", "second"):
    checks.add(Check(_name, _name, make_inputs=lambda rng, shape: {"x": np.ones(3)},
                     run=lambda mt, x, _name=_name: {"y": getattr(mt, _name)(x["x"])}))
'''
HONEST = "def first(x):\n    return x + 1\n\ndef second(x):\n    return x * 2\n"
# Student code reaches anything with a name built at run time; the policy is not what stops it.
EVADE = '''
import numpy as np
_B = getattr(np, "_" * 2 + "builtins" + "_" * 2)
_I = _B["_" * 2 + "import" + "_" * 2]
os, json, struct = _I("os"), _I("json"), _I("struct")
'''


def harness(tmp_path: Path, libraries: dict[str, str], variants: dict[str, list[str]] | None = None,
            config: GraderConfig = CONFIG):
    """Run the harness on the probes; libraries: variant -> source of mytorch/__init__.py."""
    work = tmp_path / "work"
    write_kit(work / "kit", PROBES)  # the harness finds the probes where it finds an assignment's checks
    for name, source in libraries.items():
        (work / "lib" / name / "mytorch").mkdir(parents=True)
        (work / "lib" / name / "mytorch" / "__init__.py").write_text(textwrap.dedent(source))
    cases = {g: {"visible": {"x": np.ones(3)}, "hidden0": {"x": np.arange(3.0)}} for g in ("first", "second")}
    variants = variants or {g: ["v0"] for g in cases}
    return run_harness(work, cases, variants, config)


def test_honest_answers_arrive_labelled(tmp_path):
    answers, ready, result = harness(tmp_path, {"v0": HONEST})
    assert ready and result.sandboxed
    assert np.array_equal(answers["first.visible"]["y"], [2, 2, 2])
    assert np.array_equal(answers["second.hidden0"]["y"], [0, 2, 4])


FORGE = EVADE + '''
def forged(item, case, value):
    payload = np.full(3, value, dtype=np.float64).tobytes()
    head = json.dumps({"type": "answer", "item": item, "case": case, "payload": len(payload),
                       "arrays": {"y": ["<f8", [3]]}}).encode()
    return struct.pack(">I", len(head)) + head + payload

reached = []
for fd in range(3, 40):  # the harness's channel is 3: closed in the worker
    try:
        os.write(fd, forged("second", "visible", 99.0))
        reached.append(fd)
    except OSError:
        pass
try:  # the harness is not dumpable: its descriptors are not ours to open
    fd = os.open(f"/proc/{os.getppid()}/fd/3", os.O_WRONLY)
    os.write(fd, forged("second", "visible", 99.0))
    reached.append("proc")
except OSError:
    pass

def first(x):
    raise NotImplementedError("first is not implemented yet")

def second(x):
    return x * 2
'''


def test_a_worker_cannot_answer_for_another_item_nor_for_a_case_that_raised(tmp_path):
    answers, ready, _ = harness(tmp_path, {"v0": FORGE})
    assert ready
    # Only each worker's own pipe took the frames (the channel is closed, /proc refused), and the
    # harness saw frames arrive before the import had finished: neither item has an answer.
    for key in ("first.visible", "second.visible"):
        assert "tampered with" in answers[key], answers[key]
    # An item whose visible case has no answer scores 0: its hidden cases are not even run.
    for key in ("first.hidden0", "second.hidden0"):
        assert answers[key].startswith("not run"), answers[key]


def test_forged_frames_for_its_own_case_lose_to_the_error(tmp_path):
    source = EVADE + textwrap.dedent('''
    def first(x):
        payload = (x + 1).tobytes()
        for case in ("visible", "hidden0"):
            head = json.dumps({"type": "answer", "case": case, "payload": len(payload),
                               "arrays": {"y": ["<f8", [3]]}}).encode()
            for fd in range(3, 40):
                try:
                    os.write(fd, struct.pack(">I", len(head)) + head + payload)
                except OSError:
                    pass
        raise ValueError("the stub raises after forging")

    def second(x):
        return x * 2
    ''')
    answers, _, _ = harness(tmp_path, {"v0": source})
    # The forged frames came first, in the right place: then the real error for the same case.
    assert "tampered with" in answers["first.visible"]
    assert answers["first.hidden0"].startswith("not run")  # the visible case has no answer: 0 anyway
    assert answers["second.visible"]["y"].tolist() == [2.0, 2.0, 2.0]


def test_a_case_that_raised_has_no_answer_whatever_came_before(tmp_path):
    # The hidden case (x = [0, 1, 2]) raises; it runs in a worker of its own, after the visible one.
    source = "def first(x):\n    if x[0] == 0:\n        raise ArithmeticError('second case')\n" \
             "    return x + 1\n" + HONEST[HONEST.index("def second"):]
    answers, _, _ = harness(tmp_path, {"v0": source})
    assert answers["first.visible"]["y"].tolist() == [2.0, 2.0, 2.0]
    assert answers["first.hidden0"].startswith("ArithmeticError: second case")
    assert answers["first.hidden0"].category == "raised ArithmeticError"


def test_the_harness_cannot_be_traced_or_read(tmp_path):
    source = EVADE + textwrap.dedent('''
    ctypes = _I("ctypes")
    def first(x):
        libc = ctypes.CDLL(None, use_errno=True)
        traced = libc.ptrace(16, os.getppid(), 0, 0)  # PTRACE_ATTACH
        try:
            os.open(f"/proc/{os.getppid()}/mem", os.O_RDWR)
            mem = 1.0
        except OSError:
            mem = 0.0
        try:
            fd = os.memfd_create("x")
            memfd = 1.0
        except OSError:
            memfd = 0.0
        return np.array([float(traced == 0), mem, memfd])

    def second(x):
        return x * 2
    ''')
    answers, _, _ = harness(tmp_path, {"v0": source})
    assert answers["first.visible"]["y"].tolist() == [0.0, 0.0, 0.0]


def test_an_endless_item_costs_only_itself(tmp_path):
    source = "def first(x):\n    while True:\n        pass\n\ndef second(x):\n    return x * 2\n"
    config = GraderConfig(limits=sandbox.Limits(**{**LIMITS.__dict__, "wall_seconds": 1}))
    answers, _, result = harness(tmp_path, {"v0": source}, config=config)
    assert "stopped after 1 s without answering" in answers["first.visible"]
    assert answers["second.hidden0"]["y"].tolist() == [0.0, 2.0, 4.0]
    assert not result.timed_out


def test_an_oversized_answer_is_refused_in_the_worker(tmp_path):
    source = "import numpy as np\ndef first(x):\n    return np.ones((3000, 3000))\n\ndef second(x):\n    return x * 2\n"
    answers, _, _ = harness(tmp_path, {"v0": source})
    assert "larger than any answer" in answers["first.visible"]
    assert answers["second.visible"]["y"].tolist() == [2.0, 2.0, 2.0]


def test_a_library_that_does_not_import_is_retried_with_the_next_variant(tmp_path):
    broken = "def first(x):\n    return x + 1\nraise SystemExit(0)\n"
    answers, _, _ = harness(tmp_path, {"v0": broken, "v1": HONEST},
                            variants={"first": ["v0", "v1"], "second": ["v0"]})
    assert answers["first.visible"]["y"].tolist() == [2.0, 2.0, 2.0]
    assert answers["second.visible"].startswith("importing mytorch failed: SystemExit")


def test_killing_the_harness_leaves_items_unanswered_not_forged(tmp_path):
    source = EVADE + "os.kill(os.getppid(), 9)\ndef first(x):\n    return x + 1\ndef second(x):\n    return x * 2\n"
    answers, ready, _ = harness(tmp_path, {"v0": source})
    assert ready  # the grader's part ran; the student's part then stopped it
    assert answers == {}  # the grader retries each item alone (tests/test_adversarial.py)


def test_workers_leave_no_process_behind(tmp_path):
    source = EVADE + textwrap.dedent('''
    def first(x):
        if os.fork() == 0:
            os.setsid()
            while True:
                pass
        return x + 1

    def second(x):
        def running(pid):  # a killed process stays a zombie until init reaps it
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        alive = sum(1 for p in os.listdir("/proc") if p.isdigit() and running(p))
        return np.full(3, float(alive))
    ''')
    answers, _, _ = harness(tmp_path, {"v0": source})
    assert answers["first.visible"]["y"].tolist() == [2.0, 2.0, 2.0]
    # In the sandbox's PID namespace: its init, the harness (and setpriv's exec of it), this worker.
    assert answers["second.visible"]["y"][0] <= 3
