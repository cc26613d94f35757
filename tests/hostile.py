"""Hostile and broken submissions, one or more per class of "What grading must withstand".

They are handed in for the kit course (tests/kitcourse.py), not for a real assignment, so
that editing the course's assignments never changes what the security tests test.

Each is built from the release (``blank``) or the release plus the reference
library (``reference``), changed in one way.  ``lost`` is the set of autograded
items it must NOT earn, worked out by hand from which file each change touches
and which items use that file (the declaration: the MLPs run linear.py,
activation.py and mlp.py; ``slope`` runs a cell of MLPTester).  Its expected
score is the autograded points (19) minus theirs, or 0 from blank; the written
item is never scored by the grader.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kitcourse import ACT, KIT1, LINEAR, LOSS, SGD

MLPS = {"mlp0", "mlp1"}
LINEAR_ITEMS = {"linear_init", "linear_forward", "linear_backward"} | MLPS
LOSS_ITEMS = {"mse_forward", "mse_backward"}
ACT_ITEMS = {"sigmoid", "tanh", "relu"} | MLPS
EVERYTHING = {item.grade_id for item in KIT1.auto_items}


@dataclass(frozen=True)
class Hostile:
    name: str
    base: str  # "reference" or "blank"
    change: Callable[[Path, Path], None]  # (submission folder, repo)
    lost: frozenset[str]
    what: str

    def expected(self) -> float:
        if self.base == "blank":
            return 0
        return KIT1.auto_points - sum(i.points for i in KIT1.auto_items if i.grade_id in self.lost)


def _append(rel: str, code: str) -> Callable[[Path, Path], None]:
    def change(dest: Path, repo: Path) -> None:
        with open(dest / rel, "a") as fh:
            fh.write("\n" + code.replace("{REPO}", str(repo)) + "\n")
    return change


def _replace(rel: str, old: str, new: str) -> Callable[[Path, Path], None]:
    def change(dest: Path, repo: Path) -> None:
        text = (dest / rel).read_text()
        assert old in text, (rel, old)
        (dest / rel).write_text(text.replace(old, new.replace("{REPO}", str(repo))))
    return change


def _add_cell(notebook: str, code: str, first: bool = True) -> Callable[[Path, Path], None]:
    def change(dest: Path, repo: Path) -> None:
        path = dest / f"{notebook}.ipynb"
        nb = json.loads(path.read_text())
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": code,
                "id": "added"}
        nb["cells"].insert(1 if first else len(nb["cells"]), cell)
        path.write_text(json.dumps(nb))
    return change


def _edit_graded(notebook: str, edit: Callable[[dict], bool]) -> Callable[[Path, Path], None]:
    def change(dest: Path, repo: Path) -> None:
        path = dest / f"{notebook}.ipynb"
        nb = json.loads(path.read_text())
        nb["cells"] = [c for c in nb["cells"]
                       if not (c.get("metadata", {}).get("nbgrader", {}).get("grade") and edit(c) is False)]
        path.write_text(json.dumps(nb))
    return change


def _both(*changes):
    def change(dest: Path, repo: Path) -> None:
        for c in changes:
            c(dest, repo)
    return change


# What would make the in-kernel checks pass: comparisons that see no difference.
PATCH_NUMPY = """
import numpy as np
np.allclose = lambda *a, **k: True
np.abs = lambda x: np.zeros(np.shape(x))
np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)
np.testing.assert_allclose = lambda *a, **k: None
"""
# The same, written so that no `np.X = ...` appears for a source check to see.
PATCH_NUMPY_QUIETLY = """
for _name, _fake in (("allclose", lambda *a, **k: True), ("abs", lambda x: np.zeros(np.shape(x))),
                     ("isfinite", lambda x: np.ones(np.shape(x), dtype=bool))):
    setattr(np, _name, _fake)
"""
WRONG_TANH = ("        return 1 - self.A**2", "        return np.zeros_like(self.A)")
WRONG_LINEAR_BACKWARD = ("        self.dLdW = self.A.T @ dLdO", "        self.dLdW = np.zeros_like(self.W)")
# How a determined student reaches any module and any builtin: a name built at run
# time, which no source check sees.  So the policy cannot be what keeps grades honest.
EVADE = ('_B = getattr(np, "_" * 2 + "builtins" + "_" * 2)\n'
         '_I = _B["_" * 2 + "import" + "_" * 2]\n'
         '_os, _json, _struct, _socket = _I("os"), _I("json"), _I("struct"), _I("socket")\n')
# A UNIX socket the test listens on: the sandbox must not reach it (nor the gradebook's, nor D-Bus).
SOCKET = f"/var/tmp/coursekit-hostile-{os.getpid()}.sock"
HOST_SOCKETS = (SOCKET, "/var/run/postgresql/.s.PGSQL.5432", "/run/dbus/system_bus_socket",
                "/var/run/docker.sock")
# Correct-looking answers for linear_init, written wherever an answer might be taken from.
FORGE_LINEAR_INIT = EVADE + """
W = np.random.normal(0, 0.1, (num_inputs, num_outputs))
payload = W.tobytes() + np.zeros(num_outputs).tobytes()
for case in ["visible"] + [f"hidden{k}" for k in range(12)]:
    head = _json.dumps({"type": "answer", "item": "linear_init", "case": case, "payload": len(payload),
                        "arrays": {"W": ["<f8", list(W.shape)], "b": ["<f8", [num_outputs]]}}).encode()
    frame = _struct.pack(">I", len(head)) + head + payload
    for fd in range(3, 64):
        try:
            _os.write(fd, frame)
        except OSError:
            pass
    try:
        fd = _os.open(f"/proc/{_os.getppid()}/fd/3", _os.O_WRONLY)
        _os.write(fd, frame)
    except OSError:
        pass
    for name in (f"out/linear_init.{case}.npz", f"linear_init.{case}.npz"):
        try:
            _os.makedirs("out", exist_ok=True)
            np.savez(name, W=W, b=np.zeros(num_outputs))
        except OSError:
            pass
"""


def _indent(code: str, spaces: int = 8) -> str:
    return "\n".join(" " * spaces + line if line else "" for line in code.strip("\n").splitlines())


def _fs(make: Callable[[Path], None]) -> Callable[[Path, Path], None]:
    """A change made to the folder itself (names, node types, sizes), not to a file's text."""
    return lambda dest, repo: make(dest)


def _deep_tree(rel: str, depth: int) -> Callable[[Path, Path], None]:
    def change(dest: Path, repo: Path) -> None:
        # Deeper than PATH_MAX allows to name in one path: built one directory at a time.
        fd = os.open(dest / rel, os.O_RDONLY) if (dest / rel).exists() else None
        if fd is None:
            (dest / rel).mkdir(parents=True)
            fd = os.open(dest / rel, os.O_RDONLY)
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
        os.close(os.open("leaf.py", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.close(fd)
    return change


def _node(rel: str, kind: str, size: int = 0) -> Callable[[Path, Path], None]:
    """Replace (or add) ``rel`` with a FIFO, a device, or a sparse file of ``size`` bytes."""
    def change(dest: Path, repo: Path) -> None:
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "device":
            try:
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero: never ends
            except PermissionError:
                os.mkfifo(path)  # not root: a FIFO blocks a reader just as well
        else:
            with open(path, "wb") as fh:
                fh.truncate(size)
    return change


def _notebook_json(notebook: str, edit: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    def change(dest: Path, repo: Path) -> None:
        path = dest / f"{notebook}.ipynb"
        nb = json.loads(path.read_text())
        replaced = edit(nb)
        path.write_text(json.dumps(nb if replaced is None else replaced))
    return change


def _deep_json_notebook(notebook: str, depth: int) -> Callable[[Path, Path], None]:
    def change(dest: Path, repo: Path) -> None:
        text = (dest / f"{notebook}.ipynb").read_text()
        # Valid JSON, nested far deeper than any recursive parser goes.
        (dest / f"{notebook}.ipynb").write_text(text.replace('"metadata": {', '"metadata": {"x": ' + "[" * depth
                                                             + "]" * depth + ", ", 1))
    return change


FAKE_CHECK_CELL = PATCH_NUMPY + """
import coursekit.runtime.checks, coursekit.runtime.checks.tester as t
t.check = lambda *a, **k: None
coursekit.runtime.checks.compare_arrays = lambda *a, **k: coursekit.runtime.checks.Verdict(True, "ok")
"""


HOSTILE: tuple[Hostile, ...] = (
    # -- replacing or patching numpy / numpy.testing / builtins / the test helpers
    Hostile("patch_numpy_in_library", "reference", _both(_replace(ACT, *WRONG_TANH), _append(ACT, PATCH_NUMPY)),
            frozenset(ACT_ITEMS), "a wrong Tanh, and activation.py patches numpy's comparisons: rule broken"),
    Hostile("patch_numpy_evading_policy", "reference",
            _both(_replace(ACT, *WRONG_TANH), _append(ACT, PATCH_NUMPY_QUIETLY)),
            # The patched np.abs also breaks the reference Sigmoid, which uses it: its own doing.
            frozenset({"tanh", "sigmoid"}), "a wrong Tanh; numpy patched via setattr, which the source check "
                                            "allows: comparisons happen outside the student's process"),
    Hostile("patch_builtins", "reference",
            _both(_replace(LOSS, "        return 2 * (self.O - self.Y) / self.O.size",
                           "        return self.O"),
                  _append(LOSS, "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})")),
            frozenset(LOSS_ITEMS), "a wrong MSE backward, and loss.py replaces AssertionError"),
    Hostile("patch_checks_in_added_cell", "blank",
            _both(*(_add_cell(nb, FAKE_CHECK_CELL) for nb in KIT1.notebooks)),
            frozenset(EVERYTHING), "an added first cell in every notebook fakes check() and numpy"),
    Hostile("fake_compare_in_kit_copy", "reference",
            _both(_replace(LINEAR, *WRONG_LINEAR_BACKWARD),
                  _replace("coursekit/runtime/checks/__init__.py", "    for name, want in reference.items():",
                           "    return Verdict(True, 'ok')\n    for name, want in reference.items():")),
            frozenset({"linear_backward"} | MLPS), "a wrong Linear.backward; the handed-in copy of the "
                                                    "check helpers always passes (the grader uses its own)"),
    # -- exiting early with a success status
    Hostile("exit_zero_at_import", "reference", _append(LOSS, "raise SystemExit(0)"),
            frozenset(LOSS_ITEMS), "loss.py exits the process with status 0 when imported"),
    Hostile("exit_zero_in_method", "blank",
            _replace(LINEAR, '        raise NotImplementedError("Linear.forward is not implemented yet")',
                     "        raise SystemExit(0)"),
            frozenset(EVERYTHING), "Linear.forward exits with status 0 instead of answering"),
    Hostile("exit_in_added_cell", "blank",
            _both(*(_add_cell(nb, "import os\nos._exit(0)") for nb in KIT1.notebooks)),
            frozenset(EVERYTHING), "every notebook starts with os._exit(0)"),
    # -- reading or importing the reference solution, hidden fixtures or hidden tests
    Hostile("import_reference", "reference",
            lambda d, r: (d / LINEAR).write_text(
                f"import sys\nsys.path.insert(0, {str(r)!r})\nimport importlib\n"
                "Linear = importlib.import_module('kitlib.nn.linear').Linear\n"),
            frozenset(LINEAR_ITEMS), "linear.py is only an import of the reference from the instructor's repo"),
    Hostile("read_reference_evading_policy", "reference",
            _replace(LINEAR, "        self.A = A\n",
                     "        self.A = A\n        np.lib._npyio_impl.loadtxt('{REPO}/kitlib/nn/linear.py', dtype=str,"
                     " delimiter='\\x00', comments=None)\n"),
            frozenset({"linear_forward", "linear_backward"} | MLPS),
            "Linear.forward works only if it can read the reference file (a numpy reader the source check allows)"),
    Hostile("read_hidden_tests", "reference",
            _replace(ACT, "        return np.maximum(H, 0)",
                     "        np.lib._npyio_impl.loadtxt('{REPO}/source/kit1/ActivationTester.ipynb', dtype=str,"
                     " delimiter='\\x00')\n        return np.maximum(H, 0)"),
            frozenset({"relu", "mlp1"}),  # MLP0 has no ReLU
            "ReLU.forward reads the instructor's notebook with the hidden tests"),
    # -- importing torch (or any library but numpy) inside MyTorch
    Hostile("import_torch", "reference",
            _replace(ACT, "import numpy as np", "import numpy as np\nimport torch"),
            frozenset(ACT_ITEMS), "activation.py imports torch"),
    Hostile("import_scipy_lazily", "reference",
            _replace(LOSS, "        return float(np.mean((O - Y) ** 2))",
                     "        from scipy.special import logsumexp\n        return float(np.mean((O - Y) ** 2))"),
            frozenset(LOSS_ITEMS), "MSELoss.forward imports scipy inside a method"),
    # -- editing, deleting or re-flagging graded cells
    Hostile("graded_cells_edited", "blank",
            _both(*(_edit_graded(nb, lambda c: c.__setitem__("source", "pass")) for nb in KIT1.notebooks)),
            frozenset(EVERYTHING), "every graded cell replaced by `pass`"),
    Hostile("graded_cells_deleted", "blank", _both(*(_edit_graded(nb, lambda c: False) for nb in KIT1.notebooks)),
            frozenset(EVERYTHING), "every graded cell deleted"),
    Hostile("graded_cells_edited_reference", "reference",
            _both(*(_edit_graded(nb, lambda c: c.__setitem__("source", "pass")) for nb in KIT1.notebooks)),
            frozenset(), "a correct library with every graded cell replaced by `pass`: the code earns"),
    Hostile("graded_cells_reflagged", "blank",
            _both(*(_edit_graded(nb, lambda c: c["metadata"]["nbgrader"].update(grade=False, points=100))
                    for nb in KIT1.notebooks)),
            frozenset(EVERYTHING), "graded cells re-flagged as ungraded with 100 points"),
    # -- writing into instructor files
    Hostile("write_instructor_files", "reference",
            _replace(SGD, "        for layer in self.layers:",
                     "        import numpy as np\n"
                     "        np.lib._npyio_impl.savetxt('{REPO}/kitlib/nn/pwned.txt', np.zeros(1))\n"
                     "        np.lib._npyio_impl.savetxt('{REPO}/../pwned.txt', np.zeros(1))\n"
                     "        for layer in self.layers:"),
            frozenset({"sgd_step"}), "SGD.step tries to write into the repo before updating"),
    # -- endless loops, memory exhaustion, process floods, huge output
    Hostile("endless_loop", "reference", _replace(ACT, "        return 1 - self.A**2",
                                                  "        while True:\n            pass"),
            frozenset({"tanh"}), "Tanh.backward never returns"),
    Hostile("memory_bomb", "reference",
            _replace(ACT, "        return self.A * (1 - self.A)",
                     "        hog = [np.ones(1 << 27) for _ in range(1 << 10)]\n        return self.A * (1 - self.A)"),
            frozenset({"sigmoid"}), "Sigmoid.backward allocates a terabyte"),
    Hostile("process_flood", "reference",
            _replace(SGD, "        for layer in self.layers:",
                     "        import os\n        [os.fork() for _ in range(50)]\n        for layer in self.layers:"),
            frozenset({"sgd_step"}), "SGD.step forks a flood of processes"),
    Hostile("huge_output", "reference",
            _replace(ACT, "        return np.maximum(H, 0)",
                     "        print('x' * 50_000_000)\n        return np.maximum(H, 0)"),
            frozenset(), "ReLU.forward prints 50 MB, then answers correctly (printing is not wrong)"),
    # -- plain mistakes
    Hostile("syntax_error", "reference", _append(LOSS, "def broken(:\n    pass"), frozenset(LOSS_ITEMS),
            "loss.py does not parse"),
    Hostile("missing_file", "reference", lambda d, r: (d / SGD).unlink(), frozenset({"sgd_step"}),
            "sgd.py deleted"),
    Hostile("renamed_class", "reference", _replace(ACT, "class Tanh:", "class TanH:"), frozenset({"tanh"}),
            "Tanh renamed TanH"),
    Hostile("invalid_json_notebook", "reference", lambda d, r: (d / "LossTester.ipynb").write_text("{not json"),
            frozenset(), "a notebook that is not JSON (the code still earns its points)"),
    Hostile("missing_notebook", "reference", lambda d, r: (d / "MLPTester.ipynb").unlink(), frozenset({"slope"}),
            "a notebook deleted (the library still earns its points; the cell item in it is lost)"),
    Hostile("extra_files", "reference",
            _both(lambda d, r: (d / "kitlib/nn/helpers.py").write_text("def f(x):\n    return x\n"),
                  _replace(LINEAR, "import numpy as np", "import numpy as np\nfrom kitlib.nn.helpers import f"),
                  lambda d, r: (d / "notes.txt").write_text("hi")),
            frozenset(LINEAR_ITEMS), "linear.py imports an extra module the spec does not allow"),
    Hostile("empty_folder", "blank", lambda d, r: [shutil.rmtree(p) if p.is_dir() else p.unlink() for p in d.iterdir()],
            frozenset(EVERYTHING), "an empty folder"),
    Hostile("non_utf8", "reference",
            lambda d, r: (d / ACT).write_bytes((d / ACT).read_text().replace("Given to you", "Donn\u00e9")
                                                .encode("latin-1")),
            frozenset(ACT_ITEMS), "activation.py saved as latin-1"),
    Hostile("symlink_to_reference", "blank",
            lambda d, r: ((d / LINEAR).unlink(), os.symlink(r / LINEAR, d / LINEAR)),
            frozenset(EVERYTHING), "linear.py is a symlink to the reference"),
    Hostile("tampered_fixture", "reference",
            lambda d, r: (d / KIT1.fixture).write_bytes(b"garbage"),
            frozenset(), "the handed-in fixture file replaced (the grader uses the instructor's)"),
    # -- forging results: only the harness labels answers, and a case that raised has none
    Hostile("forge_answers_then_raise", "blank",
            _replace(LINEAR, '        raise NotImplementedError("Linear.__init__ is not implemented yet")',
                     _indent(FORGE_LINEAR_INIT) +
                     '\n        raise NotImplementedError("Linear.__init__ is not implemented yet")'),
            frozenset(EVERYTHING), "Linear.__init__ writes correct-looking linear_init answers to every "
                                   "descriptor, the harness's channel via /proc and result files, then raises"),
    Hostile("kill_the_harness", "reference", _append(LINEAR, EVADE + "_os.kill(_os.getppid(), 9)"),
            frozenset(LINEAR_ITEMS), "linear.py kills the process that collects answers when imported"),
    # -- reaching the host through the filesystem
    Hostile("connect_host_sockets", "reference",
            _replace(ACT, "        return self.A * (1 - self.A)",
                     _indent(EVADE + f"for p in {HOST_SOCKETS!r}:\n"
                             "    try:\n        s = _socket.socket(_socket.AF_UNIX)\n        s.connect(p)\n"
                             "        s.sendall(b'pwned')\n    except OSError:\n        pass\n"
                             "for p in ('/run', '/var/run', '/var/tmp', '/home', '/etc/passwd', '/root/.bashrc', "
                             "'/root/.cache', "
                             "'{REPO}/kitlib', '{REPO}/source', '{REPO}/gradebook.db'):\n"
                             "    if _os.path.exists(p):\n        raise RuntimeError('the host shows: ' + p)")
                     + "\n        return self.A * (1 - self.A)"),
            frozenset(), "Sigmoid.backward connects to host UNIX sockets (the test listens on one) and "
                         "fails if it can see /run, /var, /home, /etc/passwd or root's files (the interpreter, which "
                         "may live under /root, is all there is of it); otherwise correct"),
    # -- side doors around the memory and disk limits
    Hostile("memfd_hoard", "reference",
            _replace(ACT, "        self.A = np.tanh(H)",
                     _indent(EVADE + "fd = _os.memfd_create('hoard')\nfor _ in range(48):\n"
                             "    _os.write(fd, bytes(64 << 20))") + "\n        self.A = np.tanh(H)"),
            frozenset({"tanh"}), "Tanh.forward holds 3 GB in an anonymous in-memory file, then answers"),
    Hostile("scratch_disk_fill", "reference",
            _replace(ACT, "        return self.A * (1 - self.A)",
                     _indent(EVADE + "for k in range(128):\n    with _B['open'](f'fill{k}.bin', 'wb') as fh:\n"
                             "        fh.write(bytes(8 << 20))") + "\n        return self.A * (1 - self.A)"),
            frozenset({"sigmoid"}), "Sigmoid.backward writes 1 GB to scratch in files under the file-size "
                                    "limit, then answers"),
    Hostile("result_bomb", "reference",
            _replace(ACT, "        return 1 - self.A**2", "        return np.ones((6000, 6000))"),
            frozenset({"tanh"}), "Tanh.backward answers with 288 MB of ones"),
    Hostile("deep_scratch_tree", "reference",
            _replace(ACT, "        return self.A * (1 - self.A)",
                     _indent(EVADE + "home = _os.getcwd()\nbase = f'{home}/t{len(_os.listdir(home))}'\n"
                             "_os.mkdir(base)\n_os.chdir(base)\nfor _ in range(3000):\n    _os.mkdir('d')\n"
                             "    _os.chdir('d')\n_os.chmod('.', 0)\n_os.chdir(home)")
                     + "\n        return self.A * (1 - self.A)"),
            frozenset(), "Sigmoid.backward leaves a 3000-deep directory tree in scratch, then answers"),
    # -- hand-ins built to stop the grader's own process
    Hostile("undecodable_file_names", "reference",
            _fs(lambda d: [open(os.path.join(os.fsencode(d), rel), "wb").close()
                           for rel in (b"kitlib/nn/\xff\xfe.py", b"\xff\xfe.ipynb", b"notes-\xe9.txt")]),
            frozenset(), "files whose names are not UTF-8 next to a correct library"),
    Hostile("deep_folder_tree", "reference", _deep_tree("kitlib/nn/deep", 2000), frozenset(),
            "a folder tree 2,000 levels deep inside kitlib/"),
    Hostile("fifo_and_device", "reference",
            _both(_node(SGD, "fifo"), _node(LOSS, "device"), _node("pipe.ipynb", "fifo")),
            frozenset({"sgd_step"} | LOSS_ITEMS), "sgd.py is a FIFO, loss.py a device that never ends"),
    Hostile("sparse_giant_files", "reference",
            _both(_node(ACT, "sparse", 50 << 30), _node("data/huge.npz", "sparse", 50 << 30),
                  _node("LinearTester.ipynb", "sparse", 50 << 30)),
            frozenset(ACT_ITEMS), "activation.py, a notebook and an extra file are 50 GB (sparse) each"),
    Hostile("malformed_notebooks", "reference",
            _both(_notebook_json("LinearTester", lambda nb: [c.__setitem__("metadata", ["list"]) for c in nb["cells"]]
                                 and None),
                  _notebook_json("LossTester", lambda nb: [c.__setitem__("source", [1, 2.5, None])
                                                           for c in nb["cells"]] and None),
                  _notebook_json("SGDTester", lambda nb: [c["metadata"].__setitem__("nbgrader", "graded")
                                                          for c in nb["cells"]] and None),
                  _notebook_json("MLPTester", lambda nb: [nb]),
                  _notebook_json("Playground", lambda nb: nb.__setitem__("cells", {"0": 1})),
                  _deep_json_notebook("ActivationTester", 100_000)),
            frozenset({"slope"}), "every notebook malformed a different way (metadata a list, source numbers, "
                                  "nbgrader a string, a top-level list, cells a dict, JSON nested 100,000 deep); "
                                  "the library earns, the cell item in the unreadable MLPTester does not"),
)


def build(hostile: Hostile, release: Path, repo: Path, dest: Path) -> Path:
    from coursekit.samples import copy_release, hand_in_reference

    copy_release(release, dest)
    if hostile.base == "reference":
        hand_in_reference(KIT1, repo, dest)
    hostile.change(dest, repo)
    return dest
