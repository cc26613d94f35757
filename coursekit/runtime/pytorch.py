"""Install PyTorch's CPU-only build, or the build you choose (standard library only).

    python -m coursekit.runtime.pytorch                        # pip-install PyTorch for this machine
    python -m coursekit.runtime.pytorch --print                # only print pip's arguments (the Makefile uses this)
    python -m coursekit.runtime.pytorch -r requirements.txt    # ... and everything else the file lists
    python -m coursekit.runtime.pytorch --index-url https://download.pytorch.org/whl/cu126 -r requirements.txt

This course needs PyTorch only on the CPU, and PyPI's torch for Linux on x86-64
is the CUDA build, which pulls several GB of NVIDIA libraries. Which build,
the first that applies:

1. your choice: ``--spec`` or ``TORCH_SPEC`` (the requirement, e.g.
   ``torch==2.13.0+cu126``) and/or ``--index-url`` or ``TORCH_INDEX_URL`` (an
   extra index to look on, e.g. ``https://download.pytorch.org/whl/cu126``);
2. a wheel of this version in a folder pip is set to find links in
   (``PIP_FIND_LINKS``, or ``find-links`` in ``pip config list``): plain
   ``torch==VERSION`` and no extra index, so it installs offline;
3. Linux and Windows on x86-64: ``torch==VERSION+cpu`` from PyTorch's CPU index;
4. macOS, and other processors (ARM): ``torch==VERSION`` from PyPI, whose
   wheels there have no CUDA.

``TORCH_VERSION`` is the course's one pin of PyTorch: the Makefile, the
students' ``requirements.txt`` (:func:`requirement_lines`) and the student
README take it from here.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlparse

TORCH_VERSION = "2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Where PyTorch's index has "+cpu" wheels and PyPI has the CUDA build (Windows: PyPI's is CPU-only,
# but the +cpu pin says so and costs nothing). platform.machine() says "x86_64" on Linux, "AMD64" on Windows.
CPU_SYSTEMS = ("Linux", "Windows")
CPU_MACHINES = ("x86_64", "AMD64")
# The same rule as environment markers (PEP 508), for requirements.txt.
CPU_MARKER = ('(platform_system == "Linux" or platform_system == "Windows") and '
              '(platform_machine == "x86_64" or platform_machine == "AMD64")')
NOT_CPU_MARKER = ('(platform_system != "Linux" and platform_system != "Windows") or '
                  '(platform_machine != "x86_64" and platform_machine != "AMD64")')


@dataclass(frozen=True)
class Choice:
    args: list[str]  # what follows `pip install`
    reason: str  # one line: which build, and why


def cpu_build_needed(system: str, machine: str) -> bool:
    """True where plain ``torch==VERSION`` from PyPI would be the CUDA build."""
    return system in CPU_SYSTEMS and machine.lower() in {m.lower() for m in CPU_MACHINES}


def choose(version: str = TORCH_VERSION, *, system: str | None = None, machine: str | None = None,
           find_links: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
           python: str | None = None) -> Choice:
    """The pip arguments that install PyTorch ``version`` here, and why (see the module's rules).

    Everything about the machine can be given (for tests): ``system`` and ``machine`` as
    ``platform.system()``/``platform.machine()`` say them, ``find_links`` (default: pip's
    configuration), ``env`` (default: ``os.environ``), ``python`` (the wheel tag, ``cp311``)."""
    env = os.environ if env is None else env
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    python = f"cp{sys.version_info[0]}{sys.version_info[1]}" if python is None else python
    spec, index = env.get("TORCH_SPEC", "").strip(), env.get("TORCH_INDEX_URL", "").strip()
    if spec or index:
        requirement = shlex.split(spec) if spec else [f"torch=={version}"]
        extra = ["--extra-index-url", index] if index else []
        return Choice(extra + requirement, "your choice (TORCH_SPEC / TORCH_INDEX_URL): "
                      + " ".join(extra + requirement))
    links = configured_find_links(env) if find_links is None else list(find_links)
    wheel = local_wheel(version, links, system=system, machine=machine, python=python)
    if wheel is not None:
        return Choice([f"torch=={version}"], f"the local wheel {wheel} (pip's find-links), offline")
    if cpu_build_needed(system, machine):
        return Choice(["--extra-index-url", CPU_INDEX, f"torch=={version}+cpu"],
                      f"the CPU-only build from {CPU_INDEX} ({system} {machine})")
    return Choice([f"torch=={version}"], f"torch {version} from PyPI, which has no CUDA build for {system} {machine}")


def pip_args(version: str = TORCH_VERSION, *, system: str | None = None, machine: str | None = None,
             find_links: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
             python: str | None = None) -> list[str]:
    """What follows ``pip install`` to install PyTorch ``version`` on this machine (see :func:`choose`)."""
    return choose(version, system=system, machine=machine, find_links=find_links, env=env, python=python).args


def configured_find_links(env: Mapping[str, str] | None = None) -> list[str]:
    """pip's find-links locations: ``PIP_FIND_LINKS`` and every ``find-links`` of ``pip config list``
    (asked of this interpreter's pip; none if it has no pip)."""
    env = os.environ if env is None else env
    links = env.get("PIP_FIND_LINKS", "").split()
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                             timeout=60, env=dict(env), stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".find-links"):
            links += value.strip().strip("'\"").split()
    return list(dict.fromkeys(links))


def local_wheel(version: str, find_links: Sequence[str], *, system: str, machine: str,
                python: str) -> Path | None:
    """A torch ``version`` wheel (any local label, e.g. ``+cpu``) for this Python and platform in a
    local find-links folder, or None. Remote (http) find-links are not looked into."""
    platform_word = {"Linux": "linux", "Windows": "win", "Darwin": "macosx"}.get(system, system.lower())
    for link in find_links:
        url = urlparse(link)
        if url.scheme not in ("", "file"):
            continue
        folder = Path(unquote(url.path) if url.scheme == "file" else link)
        try:
            names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else [folder.name]
        except OSError:
            continue
        for name in names:
            parts = name[:-len(".whl")].split("-") if name.endswith(".whl") else []
            if len(parts) < 5 or parts[0].lower() != "torch":
                continue
            public, tags, plat = parts[1].split("+")[0], parts[-3].split("."), parts[-1].lower()
            if (public == version and (python in tags or "py3" in tags) and platform_word in plat
                    and machine.lower() in plat):
                return folder / name if folder.is_dir() else folder
    return None


def requirement_lines(version: str = TORCH_VERSION) -> list[str]:
    """PyTorch in a requirements.txt, CPU-only wherever it is installed: PyTorch's CPU index and
    ``+cpu`` where PyPI's build is CUDA's, the plain pin elsewhere.

    A ``+cpu`` wheel in pip's find-links is found as well, so it installs offline; pip then retries
    the unreachable index for every package first (``PIP_RETRIES=0`` skips that, or
    ``python -m coursekit.runtime.pytorch -r requirements.txt``, which leaves the index out)."""
    return [f"--extra-index-url {CPU_INDEX}",
            f"torch=={version}+cpu ; {CPU_MARKER}",
            f"torch=={version} ; {NOT_CPU_MARKER}"]


def rest_of(requirements: Path) -> list[str]:
    """The requirements of a requirements.txt other than torch and PyTorch's indexes, as pip arguments."""
    args: list[str] = []
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("-"):
            if "download.pytorch.org" not in line:
                args += shlex.split(line)
            continue
        name = re.match(r"[A-Za-z0-9._-]+", line)
        if name and re.sub(r"[-_.]+", "-", name.group(0)).lower() == "torch":
            continue
        args.append(line)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.runtime.pytorch",
        description="Install PyTorch's CPU-only build (default), or the build you choose.",
        epilog="Another build: --index-url https://download.pytorch.org/whl/cu126 (CUDA 12.6), or "
               "--spec 'torch==VERSION+cu126'; the environment variables TORCH_INDEX_URL and TORCH_SPEC "
               "do the same.")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the arguments for `pip install` instead of running it")
    parser.add_argument("--index-url", metavar="URL", help="an extra index with the build you want")
    parser.add_argument("--spec", help=f"the torch requirement you want (default: torch=={TORCH_VERSION})")
    parser.add_argument("-r", "--requirement", metavar="FILE", type=Path,
                        help="also install the rest of this requirements file (its torch lines give way)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.index_url:
        env["TORCH_INDEX_URL"] = args.index_url
    if args.spec:
        env["TORCH_SPEC"] = args.spec
    choice = choose(env=env)
    pip = choice.args + (rest_of(args.requirement) if args.requirement else [])
    print(f"PyTorch: {choice.reason}", file=sys.stderr)
    if args.print_only:
        print(shlex.join(pip))
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "install", *pip])


if __name__ == "__main__":
    sys.exit(main())
