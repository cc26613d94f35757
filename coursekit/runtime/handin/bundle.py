"""The hand-in zip: writing it (student side) and inspecting one (both sides).

The zip holds the tester notebooks at its top, the library's ``.py`` files
under their folder (``mytorch/...``) and a small ``handin.json`` (assignment,
name, id, time).  Nothing else: no data, no caches, no kit.

:func:`inspect_zip` is the one judgement of whether a zip is safe and has the
expected layout.  The student's ``handin.py`` runs it on the zip it just
wrote, and ``course collect`` runs it on every zip it imports, so a zip that
passes on the student's machine is collected as it is.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import struct
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from coursekit.runtime.handin.spec import HandinSpec

META = "handin.json"
MAX_ZIP_BYTES = 200 << 20  # the zip file itself
MAX_MEMBERS = 500
MAX_MEMBER_BYTES = 25 << 20  # a notebook with many plots is a few MB
MAX_TOTAL_BYTES = 100 << 20
MAX_META_BYTES = 64 << 10
MAX_NAME_BYTES = 255  # one part of a member's path: what common file systems allow
MAX_PATH_CHARS = 1024  # a member's whole path; a hand-in's are a few dozen
MAX_SHOWN = 120  # characters of a member's name shown in a message
# zipfile reads a zip's whole directory into objects (~500 bytes an entry) before any count can
# be checked: a 123 MB zip of 1.5 million empty members took 790 MB.  The end record says the
# directory's size and entries first; an honest entry is under 300 bytes (46, name, extras).
MAX_DIRECTORY_BYTES = MAX_MEMBERS << 10
JUNK = ("__MACOSX/",)  # macOS Finder's resource forks: ignored, never an error
CHUNK = 1 << 16


@dataclass
class ZipCheck:
    """What is in a hand-in zip; ``refusal`` set means nothing of it may be used."""
    path: Path
    refusal: str = ""
    members: dict[str, str] = field(default_factory=dict)  # layout path -> name inside the zip
    missing: list[str] = field(default_factory=list)  # required paths the zip lacks
    ignored: list[str] = field(default_factory=list)  # members outside the layout (not extracted)
    meta: dict[str, Any] = field(default_factory=dict)  # handin.json, if the zip has a readable one
    prefix: str = ""  # "<assignment>/" when the files sit in one folder instead of at the top

    @property
    def ok(self) -> bool:
        return not self.refusal


# --- writing ----------------------------------------------------------------------------


def library_files(folder: Path, spec: HandinSpec) -> list[str]:
    """Every ``.py`` file of the library in ``folder`` (no caches, no links), sorted."""
    found = []
    for root in spec.library_roots:
        base = folder / root
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):  # does not follow links
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
            for name in filenames:
                path = Path(dirpath) / name
                rel = path.relative_to(folder).as_posix()
                if spec.is_library_file(rel) and path.is_file() and not path.is_symlink():
                    found.append(rel)
    return sorted(found)


def write_zip(folder: Path, spec: HandinSpec, notebooks: dict[str, bytes], meta: dict[str, Any],
              out: Path) -> list[str]:
    """Write the hand-in zip atomically; returns the paths it holds.

    ``notebooks``: notebook name -> the bytes to hand in (the freshly executed
    notebook; a notebook missing here is taken from the folder as it is)."""
    now = dt.datetime.now().timetuple()[:6]
    written = []
    partial = out.with_name(out.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        def add(rel: str, data: bytes) -> None:
            info = zipfile.ZipInfo(rel, date_time=now)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
            written.append(rel)

        for name in spec.notebooks:
            data = notebooks.get(name)
            path = folder / f"{name}.ipynb"
            if data is None and path.is_file() and not path.is_symlink():
                data = path.read_bytes()
            if data is not None:
                add(f"{name}.ipynb", data)
        for rel in library_files(folder, spec):
            add(rel, (folder / rel).read_bytes())
        add(META, json.dumps(meta, indent=1).encode("utf-8"))
    os.replace(partial, out)
    return written


def verify_zip(path: Path, spec: HandinSpec) -> list[str]:
    """Problems that would stop the grader from seeing all the work (empty: the zip is right).

    Unpacks the zip as ``course collect`` would and compares the result."""
    check = inspect_zip(path, spec)
    if check.refusal:
        return [check.refusal]
    problems = [f"{path.name}: {rel} is missing" for rel in check.missing]
    if check.prefix:
        problems.append(f"{path.name}: files are inside a folder; they must be at the top of the zip")
    with tempfile.TemporaryDirectory(prefix="handin-check-") as tmp:
        try:
            extract(path, check, Path(tmp))
        except ZipRefused as exc:
            return problems + [str(exc)]
        for rel in spec.required_members():
            target = Path(tmp) / rel
            if not target.is_file():
                continue  # already reported as missing
            if rel.endswith(".ipynb"):
                try:
                    json.loads(target.read_bytes().decode("utf-8"))["cells"]
                except (ValueError, KeyError, TypeError):
                    problems.append(f"{path.name}: {rel} is not a valid notebook")
    return problems


# --- inspecting and unpacking -----------------------------------------------------------


class ZipRefused(Exception):
    """A zip that must not be unpacked; the message names the zip and why."""


def inspect_zip(path: Path, spec: HandinSpec) -> ZipCheck:
    """Safety and layout of a hand-in zip, from its directory alone (nothing is unpacked)."""
    check = ZipCheck(path)
    zip_name = shown(path.name)
    try:
        size = path.stat().st_size
    except OSError as exc:
        check.refusal = f"{zip_name}: cannot be read ({exc.strerror or exc})"
        return check
    if size > MAX_ZIP_BYTES:
        check.refusal = f"{zip_name}: {size >> 20} MB is larger than the {MAX_ZIP_BYTES >> 20} MB limit"
        return check
    check.refusal = _directory_too_large(path)
    if check.refusal:
        return check
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            check.refusal = _unsafe(zip_name, infos) or _collision(zip_name, infos)
            if check.refusal:
                return check
            _layout(check, spec, infos)
            if check.prefix + META in {i.filename for i in infos}:
                check.meta = _read_meta(zf, check.prefix + META)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
        check.refusal = f"{zip_name}: not a zip file (or a damaged one)"
        return check
    if not check.members:
        wanted = ", ".join(spec.required_members()[:3])
        check.refusal = f"{zip_name}: holds none of the hand-in files ({wanted}, ...)"
    return check


def shown(name: str, limit: int = MAX_SHOWN) -> str:
    """A name from a zip as a message shows it: control characters escaped (a terminal must not
    run them), very long names shortened.  Mirrors ``coursekit.safefs.printable``, which
    the students' copy of the kit does not ship."""
    try:  # a file name's bytes that are not UTF-8 (surrogate escapes) as \xNN, as printable shows them
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        pass  # a lone surrogate of another origin: escaped below
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)
    return text if len(text) <= limit else text[:limit // 2] + "…" + text[-(limit // 2):]


def _quoted(name: str) -> str:
    return repr(shown(name)) if name.isprintable() else f"'{shown(name)}'"
def _directory_too_large(path: Path) -> str:
    """Why the zip's directory is not even to be read, from its end record alone, or ""
    (also when there is no end record: zipfile then says the zip is damaged)."""
    end_record = getattr(zipfile, "_EndRecData", None)  # zipfile's own reader of the end record
    try:
        with open(path, "rb") as fh:
            end = end_record(fh) if end_record else None
    except (OSError, zipfile.BadZipFile, ValueError, struct.error):
        return ""
    if not end:
        return ""
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > MAX_MEMBERS:
        return f"{shown(path.name)}: {entries} members, more than the {MAX_MEMBERS} allowed"
    if size > MAX_DIRECTORY_BYTES:
        return f"{shown(path.name)}: its directory takes {size >> 10} KB, more than {MAX_MEMBERS} members need"
    return ""


def _unsafe(zip_name: str, infos: list[zipfile.ZipInfo]) -> str:
    """Why a zip must not be unpacked at all, or ""."""
    if len(infos) > MAX_MEMBERS:
        return f"{zip_name}: {len(infos)} members, more than the {MAX_MEMBERS} allowed"
    seen, total = set(), 0
    for info in infos:
        name = info.filename
        mode = info.external_attr >> 16
        quoted = _quoted(name)
        # zipfile cuts a name at a NUL (orig_filename keeps it); other unzip tools may not.
        if "\\" in name or "\0" in name or "\0" in info.orig_filename:
            return f"{zip_name}: unsafe member name {_quoted(info.orig_filename)}"
        if not name.isprintable():
            return f"{zip_name}: member {quoted} has a control character in its name"
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            return f"{zip_name}: member {quoted} has an absolute path"
        if ".." in PurePosixPath(name).parts:
            return f"{zip_name}: member {quoted} points outside the folder (..)"
        if len(name) > MAX_PATH_CHARS or any(len(p.encode("utf-8")) > MAX_NAME_BYTES for p in name.split("/")):
            return f"{zip_name}: member {quoted} has a name too long for a file system"
        if stat.S_ISLNK(mode):
            return f"{zip_name}: member {quoted} is a symbolic link"
        # No file type at all is common (Windows tools, Python's writestr): a plain file.
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            return f"{zip_name}: member {quoted} is not a regular file"
        if info.flag_bits & 0x1:
            return f"{zip_name}: member {quoted} is encrypted"
        if info.file_size > MAX_MEMBER_BYTES:
            return f"{zip_name}: member {quoted} is larger than the {MAX_MEMBER_BYTES >> 20} MB limit"
        key = name.rstrip("/")
        if key in seen:
            return f"{zip_name}: member {quoted} appears twice"
        seen.add(key)
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        return f"{zip_name}: unpacks to {total >> 20} MB, more than {MAX_TOTAL_BYTES >> 20} MB"
    return ""


def _collision(zip_name: str, infos: list[zipfile.ZipInfo]) -> str:
    """Two members that would be one file somewhere, or ""; then which one is graded would depend on
    the unzip tool or the file system (macOS and Windows ignore case; macOS also Unicode
    normalisation), so neither is taken.  A file that is also a folder cannot be unpacked at all."""
    files: dict[tuple[str, ...], str] = {}
    folders: dict[tuple[str, ...], str] = {}
    for info in infos:
        key = _fold(info.filename)
        for depth in range(1, len(key) + info.is_dir()):
            folders.setdefault(key[:depth], info.filename)
        if info.is_dir() or not key:
            continue
        if key in files:
            return (f"{zip_name}: members {_quoted(files[key])} and {_quoted(info.filename)} name the same file "
                    "(they differ only by case, Unicode normalisation or ./)")
        files[key] = info.filename
    for key, name in files.items():
        if key in folders:
            return f"{zip_name}: member {_quoted(name)} is both a file and a folder ({_quoted(folders[key])})"
    return ""


def _fold(name: str) -> tuple[str, ...]:
    """A member's path as a case-insensitive, normalisation-insensitive file system sees it."""
    return tuple(unicodedata.normalize("NFC", unicodedata.normalize("NFC", part).casefold())
                 for part in name.split("/") if part not in ("", "."))


def _canonical(name: str) -> str:
    """``./mytorch//x.py`` as ``mytorch/x.py``: where unpacking puts it."""
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def _layout(check: ZipCheck, spec: HandinSpec, infos: list[zipfile.ZipInfo]) -> None:
    """Map members to layout paths; a zip of the whole folder (``<assignment>/...``) is accepted too."""
    files = [i.filename for i in infos if not i.is_dir() and not i.filename.startswith(JUNK)]
    prefix = check.prefix = _common_folder(files, spec)
    allowed = set(spec.notebook_files())
    for name in files:
        rel = _canonical(name[len(prefix):] if name.startswith(prefix) else name)
        if name.startswith(prefix) and (rel in allowed or spec.is_library_file(rel)):
            check.members[rel] = name
        elif rel != META:
            check.ignored.append(name)
    check.missing = [rel for rel in spec.required_members() if rel not in check.members]


def _common_folder(files: list[str], spec: HandinSpec) -> str:
    """"" for a flat zip; "<assignment>/" when everything sits in one folder and nothing at the top."""
    if any(f in spec.required_members() for f in files):
        return ""
    tops = {PurePosixPath(f).parts[0] for f in files if len(PurePosixPath(f).parts) > 1}
    if len(tops) == 1 and all(len(PurePosixPath(f).parts) > 1 for f in files):
        return f"{tops.pop()}/"
    return ""


def _read_meta(zf: zipfile.ZipFile, name: str) -> dict[str, Any]:
    if zf.getinfo(name).file_size > MAX_META_BYTES:
        return {}
    try:
        meta = json.loads(zf.read(name).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile):
        return {}
    return meta if isinstance(meta, dict) else {}


def extract(path: Path, check: ZipCheck, dest: Path) -> list[str]:
    """Unpack the layout members of an inspected zip into ``dest``; returns what was written.

    The sizes in a zip's directory can lie, so every member is copied with a cap."""
    if check.refusal:
        raise ZipRefused(check.refusal)
    dest = dest.resolve()
    written, total = [], 0
    with zipfile.ZipFile(path) as zf:
        for rel, name in sorted(check.members.items()):
            target = (dest / rel).resolve()
            if dest not in target.parents:
                raise ZipRefused(f"{shown(path.name)}: member {_quoted(name)} points outside the folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            with zf.open(name) as src, open(target, "wb") as out:
                while chunk := src.read(CHUNK):
                    size, total = size + len(chunk), total + len(chunk)
                    if size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
                        raise ZipRefused(f"{shown(path.name)}: member {_quoted(name)} unpacks to more than its "
                                         "size says (a zip bomb?)")
                    out.write(chunk)
            written.append(rel)
    return written

