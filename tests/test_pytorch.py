"""coursekit/runtime/pytorch.py: which PyTorch build pip is asked for, and the students' requirements.txt.

The choice is tested on made-up machines (system, processor, find-links folders,
environment); the released requirements.txt is read with ``packaging``'s marker
evaluation for each platform, and resolved by a real ``pip install --dry-run`` here.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from coursekit.runtime import pytorch
from coursekit.assignment import runtime_files
from coursekit.runtime.pytorch import CPU_INDEX, TORCH_VERSION, choose, pip_args

V = TORCH_VERSION
LINUX = dict(system="Linux", machine="x86_64", python="cp311")
CPU = ["--extra-index-url", CPU_INDEX, f"torch=={V}+cpu"]
# (platform_system, platform_machine) as Python reports them, and the build each must get.
PLATFORMS = {
    ("Linux", "x86_64"): f"torch=={V}+cpu",
    ("Windows", "AMD64"): f"torch=={V}+cpu",
    ("Darwin", "arm64"): f"torch=={V}",
    ("Darwin", "x86_64"): f"torch=={V}",
    ("Linux", "aarch64"): f"torch=={V}",  # PyPI's ARM Linux wheel has no CUDA; the CPU index has no +cpu for it
    ("Windows", "ARM64"): f"torch=={V}",
    ("FreeBSD", "amd64"): f"torch=={V}",
}


def wheel(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"")
    return folder


# --- the choice ------------------------------------------------------------------------------


def test_linux_and_windows_on_x86_get_the_cpu_build_from_pytorchs_index():
    assert pip_args(V, **LINUX, find_links=[], env={}) == CPU
    assert pip_args(V, system="Windows", machine="AMD64", python="cp311", find_links=[], env={}) == CPU


@pytest.mark.parametrize("system, machine", [("Darwin", "arm64"), ("Darwin", "x86_64"), ("Linux", "aarch64")])
def test_macos_and_arm_get_the_plain_pin_from_pypi(system, machine):
    choice = choose(V, system=system, machine=machine, python="cp311", find_links=[], env={})
    assert choice.args == [f"torch=={V}"]
    assert "PyPI" in choice.reason


def test_a_local_wheel_of_this_version_is_installed_offline(tmp_path):
    folder = wheel(tmp_path / "wheels", f"torch-{V}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    choice = choose(V, **LINUX, find_links=[str(folder)], env={})
    assert choice.args == [f"torch=={V}"]  # no extra index: nothing to wait for offline
    assert "local wheel" in choice.reason and str(folder) in choice.reason
    assert pip_args(V, **LINUX, find_links=[folder.as_uri()], env={}) == [f"torch=={V}"]  # file:// links too
    assert pip_args(V, **LINUX, find_links=[str(folder / f"torch-{V}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")],
                    env={}) == [f"torch=={V}"]  # a link to the wheel itself


@pytest.mark.parametrize("name", [
    "torch-2.12.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",  # another version
    f"torch-{V}+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",  # another Python
    f"torch-{V}+cpu-cp311-cp311-win_amd64.whl",  # another system
    f"torch-{V}-cp311-cp311-manylinux_2_28_aarch64.whl",  # another processor
    f"torchvision-{V}-cp311-cp311-manylinux_2_28_x86_64.whl",  # another package
])
def test_a_wheel_that_does_not_fit_is_not_a_reason_to_skip_the_cpu_index(tmp_path, name):
    folder = wheel(tmp_path / "wheels", name)
    assert pip_args(V, **LINUX, find_links=[str(folder), "https://example.org/wheels", str(tmp_path / "none")],
                    env={}) == CPU


def test_an_explicit_choice_wins_over_everything(tmp_path):
    folder = wheel(tmp_path / "wheels", f"torch-{V}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    cu = "https://download.pytorch.org/whl/cu126"
    for system, machine in (("Linux", "x86_64"), ("Darwin", "arm64")):
        mine = dict(system=system, machine=machine, python="cp311", find_links=[str(folder)])
        assert pip_args(V, **mine, env={"TORCH_INDEX_URL": cu}) == ["--extra-index-url", cu, f"torch=={V}"]
        assert pip_args(V, **mine, env={"TORCH_SPEC": f"torch=={V}+cu126"}) == [f"torch=={V}+cu126"]
        assert pip_args(V, **mine, env={"TORCH_INDEX_URL": cu, "TORCH_SPEC": f"torch=={V}+cu126"}) == [
            "--extra-index-url", cu, f"torch=={V}+cu126"]
    # blank: no choice
    assert pip_args(V, **LINUX, find_links=[], env={"TORCH_INDEX_URL": " ", "TORCH_SPEC": ""}) == CPU


def test_find_links_come_from_the_environment_and_pip_config(monkeypatch):
    seen = {}

    def fake_run(cmd, **kw):
        seen["cmd"] = cmd
        out = ("global.cert='/etc/ssl/certs/ca.crt'\nglobal.find-links='/opt/wheels /srv/more'\n"
               ":env:.find-links='/from/env'\nuser.index-url='https://example.org/simple'\n")
        return subprocess.CompletedProcess(cmd, 0, out, "")

    monkeypatch.setattr(pytorch.subprocess, "run", fake_run)
    links = pytorch.configured_find_links({"PIP_FIND_LINKS": "/from/env file:///x"})
    assert links == ["/from/env", "file:///x", "/opt/wheels", "/srv/more"]
    assert seen["cmd"][-4:] == ["-m", "pip", "config", "list"]

    def no_pip(cmd, **kw):
        raise FileNotFoundError(cmd[0])

    monkeypatch.setattr(pytorch.subprocess, "run", no_pip)
    assert pytorch.configured_find_links({}) == []


def test_the_command_prints_pip_arguments_and_the_reason(capsys):
    cu = "https://download.pytorch.org/whl/cu126"
    assert pytorch.main(["--print", "--index-url", cu]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["--extra-index-url", cu, f"torch=={V}"]
    assert err.startswith("PyTorch: your choice")


def test_with_a_requirements_file_its_torch_lines_give_way(tmp_path, capsys):
    req = tmp_path / "requirements.txt"
    req.write_text(student_requirements_text())
    assert pytorch.main(["--print", "--spec", f"torch=={V}+cu126", "-r", str(req)]) == 0
    args = capsys.readouterr().out.split()
    assert args[0] == f"torch=={V}+cu126" and "numpy" in args and "jupyter-server-mathjax" in args
    assert not any(a.startswith("torch==") for a in args[1:]) and CPU_INDEX not in args
    assert pytorch.rest_of(req)[0] == "numpy"


def test_it_runs_on_the_standard_library_alone(repo):
    """The Makefile runs it in a fresh venv before anything is installed."""
    code = ("import sys, coursekit.runtime.pytorch as p; p.pip_args(find_links=[]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'torch', 'packaging', 'pip', 'nbformat', 'IPython')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_makefile_and_pyproject_take_the_version_from_the_module(repo):
    makefile = (repo / "Makefile").read_text()
    assert "-m coursekit.runtime.pytorch --print" in makefile
    assert "torch==" not in makefile
    pyproject = (repo / "pyproject.toml").read_text()
    assert '"torch"' in pyproject and "torch==" not in pyproject
    assert "coursekit/runtime/pytorch.py" in runtime_files()


# --- the students' requirements.txt ---------------------------------------------------------


def student_requirements_text() -> str:
    from coursekit.release import student_requirements

    return student_requirements()


def torch_lines(text: str) -> tuple[list[str], list[Requirement]]:
    """Option lines and torch requirements of a requirements.txt."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    options = [ln for ln in lines if ln.startswith("-")]
    reqs = [Requirement(ln) for ln in lines if not ln.startswith("-")]
    return options, [r for r in reqs if r.name == "torch"]


def selected(reqs: list[Requirement], system: str, machine: str) -> list[str]:
    env = {"platform_system": system, "platform_machine": machine, "sys_platform": system.lower(),
           "python_version": "3.11", "python_full_version": "3.11.9", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "nt" if system == "Windows" else "posix"}
    return [f"{r.name}{r.specifier}" for r in reqs if r.marker is None or r.marker.evaluate(env)]


@pytest.fixture(scope="module")
def released_requirements(released_course) -> Path:
    return released_course.folder("release", "hw1") / "requirements.txt"


def test_released_requirements_pick_the_cpu_build_per_platform(released_requirements):
    options, reqs = torch_lines(released_requirements.read_text())
    assert options == [f"--extra-index-url {CPU_INDEX}"]
    for (system, machine), expected in PLATFORMS.items():
        assert selected(reqs, system, machine) == [expected], (system, machine)
        # The markers and the command agree on every platform.
        assert (expected.endswith("+cpu")) == pytorch.cpu_build_needed(system, machine)
        assert pip_args(V, system=system, machine=machine, python="cp311", find_links=[], env={})[-1] == expected


def test_the_markers_are_valid_pep_508():
    Marker(pytorch.CPU_MARKER), Marker(pytorch.NOT_CPU_MARKER)


def test_the_student_readme_says_how_to_choose_another_build(released_course):
    readme = (released_course.folder("release", "hw1") / "README.md").read_text()
    assert f"PyTorch {V}, CPU only" in readme
    assert ("python -m coursekit.runtime.pytorch --index-url https://download.pytorch.org/whl/cu126 -r requirements.txt"
            in readme)
    assert (released_course.folder("release", "hw1") / "coursekit" / "runtime" / "pytorch.py").is_file()


def test_the_released_command_runs_in_the_release(released_course):
    folder = released_course.folder("release", "hw1")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TORCH_SPEC"] = f"torch=={V}+cu126"
    proc = subprocess.run([sys.executable, "-m", "coursekit.runtime.pytorch", "--print", "-r", "requirements.txt"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == f"torch=={V}+cu126" and "numpy" in proc.stdout.split()


def test_pip_resolves_the_released_requirements_to_the_local_cpu_wheel(released_requirements, tmp_path):
    """On this machine (download.pytorch.org unreachable, a +cpu wheel in pip's find-links) the
    released requirements still resolve torch, offline, to that wheel. Only the file's torch lines
    and options are resolved, so the test needs no other package; PIP_RETRIES=0 skips pip's retries
    of the unreachable index (about 8 s per package otherwise)."""
    system, machine = platform.system(), platform.machine()
    if not pytorch.cpu_build_needed(system, machine):
        pytest.skip(f"the released requirements ask for +cpu only on Linux/Windows x86-64, not {system} {machine}")
    links = pytorch.configured_find_links()
    local = pytorch.local_wheel(V, links, system=system, machine=machine,
                                python=f"cp{sys.version_info[0]}{sys.version_info[1]}")
    if local is None or "+cpu" not in local.name:
        pytest.skip(f"no local torch {V}+cpu wheel in pip's find-links ({' '.join(links) or 'none'}; "
                    "here /opt/wheels): resolving would need download.pytorch.org")
    text = released_requirements.read_text()
    torch_only = tmp_path / "requirements.txt"
    torch_only.write_text("".join(f"{ln}\n" for ln in text.splitlines()
                                  if ln.startswith("-") or ln.startswith("torch")))
    report = tmp_path / "report.json"
    env = {**os.environ, "PIP_RETRIES": "0"}
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                           "--quiet", "--report", str(report), "-r", str(torch_only)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (torch,) = [i for i in json.loads(report.read_text())["install"] if i["metadata"]["name"] == "torch"]
    assert torch["metadata"]["version"] == f"{V}+cpu"
    assert torch["download_info"]["url"].startswith("file://")
    assert Path(torch["download_info"]["url"].replace("%2B", "+")).name == local.name
