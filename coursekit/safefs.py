"""The one way the grading parent looks at a hand-in.

A handed-in folder is data from someone else, and anything a file system can
hold may be in it: names that are not UTF-8, folders thousands of levels
deep, links, FIFOs and device nodes (opening one can block for ever), files
of 100 GB that take no disk space.  Nothing here recurses, follows a link,
opens anything but a regular file (checked before opening and again on the
open descriptor, so a file swapped in between is caught), or reads more than
its cap; and nothing here raises for what a folder contains: every problem
comes back as one sentence that names the file.

Paths below the folder are ``str`` with "/" separators.  A name that is not
UTF-8 is kept losslessly the way Python does (``os.fsdecode``: surrogate
escapes, ``os.fsencode`` gives the bytes back) and shown with ``printable``.
"""
from __future__ import annotations

import contextlib
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator

MAX_DEPTH = 64
MAX_ENTRIES = 10_000
CHUNK = 1 << 20
MAX_SHOWN = 200  # characters of a name shown in a message

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# O_NONBLOCK: were a FIFO swapped in after the check, opening it does not wait for a writer.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class Entry:
    """One thing found in a folder, as ``lstat`` saw it (links are not followed)."""
    rel: str  # below the folder, "/"-separated; undecodable bytes as surrogate escapes
    kind: str  # "file", "dir", "link" or "other" (a FIFO, socket or device)
    size: int
    mtime_ns: int

    @property
    def shown(self) -> str:
        return printable(self.rel)

    @property
    def raw(self) -> bytes:
        """The path's bytes, exactly as on disk."""
        return _encode(self.rel)

    @property
    def parts(self) -> list[str]:
        return self.rel.split("/")


@dataclass(frozen=True)
class Problem:
    """Why a file cannot be used, as one sentence naming it."""
    rel: str
    kind: str  # "missing", "link", "special", "large", "changed", "unreadable" or "folder"
    message: str

    def __str__(self) -> str:
        return self.message


class Refused(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def printable(name: str | bytes | os.PathLike, limit: int = MAX_SHOWN) -> str:
    """A name as it can be shown anywhere: bytes that are not UTF-8 as \\xNN, control
    characters (newlines, escapes) escaped, and very long names shortened.  Never raises."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    raw = name if isinstance(name, bytes) else _encode(name)
    text = raw.decode("utf-8", "backslashreplace")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(text) > limit:
        text = text[:limit // 2] + "…" + text[-(limit // 2):]
    return text


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: no lone surrogates (which a name decoded with
    surrogate escapes, or JSON's ``\\udc80``, can hold)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8_text(text: str) -> str:
    """``text`` as valid Unicode that any writer can encode as UTF-8 (JSON, HTML, SQL text):
    lone surrogates — which a student's exception message, or a name decoded with
    surrogate escapes, can hold — become ``\\udcNN`` escapes.  Valid text comes back as it is."""
    return text if is_utf8(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def size_text(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MB"
    return f"{n >> 10} KB" if n >= 1 << 10 else f"{n} bytes"


def folder_problem(folder: Path) -> Problem | None:
    """None if folder is a real folder (not a link) that can be opened."""
    try:
        os.close(_open_root(folder))
    except Refused as refused:
        return refused.problem
    return None


# -- walking ----------------------------------------------------------------------

def walk(folder: Path, *, max_depth: int | None = None, max_entries: int | None = None,
         on_file: Callable[[Entry, int], None] | None = None) -> tuple[list[Entry], list[str]]:
    """Everything below folder (files, folders, links, others), and what could not be looked at.

    Iterative and by directory descriptors, so neither depth nor path length is
    a limit of Python's or the kernel's; at most ``max_depth`` levels and
    ``max_entries`` entries are looked at (MAX_DEPTH and MAX_ENTRIES unless
    given).  Names are visited in sorted order.
    ``on_file(entry, fd)`` is called for every regular file with a descriptor
    opened safely (the very file lstat saw, never a FIFO or device; do not
    close it); an OSError it raises becomes a problem naming the file."""
    max_depth = MAX_DEPTH if max_depth is None else max_depth
    max_entries = MAX_ENTRIES if max_entries is None else max_entries
    entries: list[Entry] = []
    problems: list[str] = []
    try:
        root = _open_root(folder)
    except Refused as refused:
        return entries, [refused.problem.message]
    stack: list[tuple[int, str, list[str]]] = []  # (open folder, its path, subfolders still to enter)
    full = False
    too_deep = False

    def enter(fd: int, rel: str) -> list[str]:
        nonlocal full
        names = []
        room = max_entries - len(entries)
        try:
            with os.scandir(fd) as it:
                for de in it:
                    if len(names) > room:
                        break
                    names.append(de.name)
        except OSError as err:
            problems.append(f"{printable(rel or '.')}: the folder cannot be read ({_why(err)})")
            return []
        if len(names) > room:
            full = True
        subdirs = []
        for name in sorted(names)[:room]:
            child = f"{rel}/{name}" if rel else name
            try:
                st = os.lstat(name, dir_fd=fd)
            except OSError as err:
                problems.append(f"{printable(child)}: cannot be examined ({_why(err)})")
                continue
            entry = Entry(child, _kind(st.st_mode), st.st_size, st.st_mtime_ns)
            entries.append(entry)
            if entry.kind == "dir":
                subdirs.append(name)
            elif entry.kind == "file" and on_file is not None:
                _visit(fd, name, entry, st, on_file, problems)
        return subdirs[::-1]  # popped from the end: sorted order

    try:
        stack.append((root, "", []))  # on the stack before listing: closed whatever happens
        stack[-1][2].extend(enter(root, ""))
        while stack:
            fd, rel, pending = stack[-1]
            if not pending:
                stack.pop()
                os.close(fd)
                continue
            name = pending.pop()
            child = f"{rel}/{name}" if rel else name
            if child.count("/") + 1 >= max_depth:
                if not too_deep:
                    problems.append(f"{printable(child)}: folders nested more than {max_depth} levels "
                                    "deep were not read")
                too_deep = True
                continue
            if full:
                continue
            try:
                child_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                problems.append(f"{printable(child)}: the folder cannot be read ({_why(err)})")
                continue
            stack.append((child_fd, child, []))
            stack[-1][2].extend(enter(child_fd, child))
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    if full:
        problems.append(f"{printable(folder.name)}: more than {max_entries} files and folders; "
                        "the rest were not read")
    return entries, problems


def _visit(dir_fd: int, name: str, entry: Entry, st: os.stat_result,
           on_file: Callable[[Entry, int], None], problems: list[str]) -> None:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        problems.append(f"{entry.shown}: cannot be read ({_why(err)})")
        return
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            problems.append(f"{entry.shown}: changed while being read")
            return
        on_file(entry, fd)
    except OSError as err:
        problems.append(f"{entry.shown}: cannot be read ({_why(err)})")
    finally:
        os.close(fd)


# -- one file -----------------------------------------------------------------------

@contextmanager
def open_regular(folder: Path, rel: str, *, max_size: int | None = None) -> Iterator[tuple[int, os.stat_result]]:
    """(descriptor, fstat) of the regular file folder/rel, or Refused with the reason.

    No component of rel may be a link; the file is checked with lstat before it
    is opened (so a FIFO or device is never opened) and with fstat after."""
    shown = printable(rel)
    parts = rel.split("/")
    if not rel or "\0" in rel or any(p in ("", ".", "..") for p in parts):
        raise Refused(Problem(rel, "missing", f"{shown}: not a plain path inside the submission"))
    fds: list[int] = []
    try:
        fds.append(_open_root(folder))
        for k, part in enumerate(parts):
            here = "/".join(parts[:k + 1])
            try:
                st = os.lstat(part, dir_fd=fds[-1])
            except FileNotFoundError:
                raise Refused(Problem(rel, "missing", f"{shown}: missing (was it renamed or deleted?)")) from None
            except OSError as err:
                raise Refused(Problem(rel, "unreadable", f"{shown}: cannot be read ({_why(err)})")) from None
            if stat.S_ISLNK(st.st_mode):
                where = "" if here == rel else f" ({printable(here)} is a link)"
                raise Refused(Problem(rel, "link", f"{shown}: is a link{where}; links are not accepted"))
            if k < len(parts) - 1:
                if not stat.S_ISDIR(st.st_mode):
                    raise Refused(Problem(rel, "missing", f"{shown}: missing ({printable(here)} is not a folder)"))
                try:
                    fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
                except OSError as err:
                    raise Refused(Problem(rel, "unreadable", f"{shown}: cannot be read ({_why(err)})")) from None
                continue
            if not stat.S_ISREG(st.st_mode):
                raise Refused(Problem(rel, "special", f"{shown}: is not a regular file ({_describe(st.st_mode)})"))
            _check_size(rel, st, max_size)
            try:
                fd = os.open(part, _FILE_FLAGS, dir_fd=fds[-1])
            except OSError as err:
                raise Refused(Problem(rel, "unreadable", f"{shown}: cannot be read ({_why(err)})")) from None
            fds.append(fd)
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise Refused(Problem(rel, "changed", f"{shown}: changed while being read"))
            _check_size(rel, now, max_size)
            yield fd, now
    finally:
        for fd in reversed(fds):
            os.close(fd)


def read_capped(folder: Path, rel: str, cap: int) -> bytes | Problem:
    """The bytes of folder/rel if it is a regular file of at most cap bytes, else why not.

    The size is checked before anything is read (a sparse 100 GB file costs
    nothing), and at most cap + 1 bytes are ever read (a file that grows)."""
    try:
        with open_regular(folder, rel, max_size=cap) as (fd, _):
            data = read_fd(fd, cap + 1)
    except Refused as refused:
        return refused.problem
    except OSError as err:
        return Problem(rel, "unreadable", f"{printable(rel)}: cannot be read ({_why(err)})")
    if len(data) > cap:
        return Problem(rel, "large", f"{printable(rel)}: larger than {size_text(cap)}")
    return data


def read_fd(fd: int, limit: int) -> bytes:
    """At most limit bytes from fd, in chunks."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = os.read(fd, min(CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def digest_fd(fd: int, st: os.stat_result, *, cap: int) -> bytes:
    """A digest of an open regular file as a reader capped at ``cap`` bytes sees it: every byte of
    a file of at most ``cap`` bytes (read in chunks), or only the fact that it is larger (a file
    that grows past the cap while being read too) — a sparse 100 GB file costs nothing."""
    import hashlib

    if st.st_size > cap:
        return b"larger than the cap"
    h = hashlib.sha256(b"whole\0")
    left = cap + 1
    while left > 0:
        chunk = os.read(fd, min(CHUNK, left))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return b"larger than the cap" if left <= 0 else h.digest()


# -- parts ----------------------------------------------------------------------------

def _open_root(folder: Path) -> int:
    shown = printable(folder)
    try:
        return os.open(folder, _DIR_FLAGS)
    except FileNotFoundError:
        raise Refused(Problem("", "folder", f"{shown}: no submission folder")) from None
    except OSError as err:
        try:
            is_link = stat.S_ISLNK(os.lstat(folder).st_mode)
        except OSError:
            is_link = False
        why = "is a link; links are not accepted" if is_link else f"is not a folder that can be read ({_why(err)})"
        raise Refused(Problem("", "folder", f"{shown}: no submission folder ({why})")) from None


def _check_size(rel: str, st: os.stat_result, max_size: int | None) -> None:
    if max_size is not None and st.st_size > max_size:
        raise Refused(Problem(rel, "large", f"{printable(rel)}: larger than {size_text(max_size)}"))


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _why(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _encode(name: str) -> bytes:
    try:
        return os.fsencode(name)
    except UnicodeError:  # a lone surrogate that did not come from a file name
        return name.encode("utf-8", "backslashreplace")


def write_atomic(path: Path, data: str | bytes) -> Path:
    """``path`` replaced in one step (readers see the old file or the new one); text as UTF-8,
    written as given (no newline translation).  No temporary file is left on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # open(): the usual mode, not mkstemp's 0600
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
