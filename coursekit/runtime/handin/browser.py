"""Headless Chromium as a printer: HTML file in, PDF out, no network.

Two ways to drive it.  On POSIX the browser is started early (while the
notebooks still run) and driven over the DevTools protocol on a pipe: it
prints as soon as MathJax says every equation is typeset, with page numbers
in the footer.  Elsewhere, or if that fails, one ``--print-to-pdf`` run waits
a fixed virtual-time budget for MathJax instead.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from coursekit.runtime.handin.spec import HandinError

# Quiet, offline, throw-away profile: without the background-networking flags
# Chromium keeps trying to reach Google's services.
FLAGS = ("--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars")
# The one-shot mode cannot ask the page whether MathJax is done: it lets virtual
# time (which runs fast while the page idles) pass instead.
ONE_SHOT_FLAGS = ("--virtual-time-budget=5000", "--no-pdf-header-footer", "--print-to-pdf-no-header")

# document.py's page resolves handinReady when its math is typeset; a page without
# it (no MathJax) is ready at once, and a MathJax that never finishes is not waited for.
READY = ("Promise.race([window.handinReady || Promise.resolve(true),"
         " new Promise(function (r) { setTimeout(r, 30000); })])")
FOOTER = ('<div style="font: 8px sans-serif; color: #777; width: 100%; text-align: center;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
MM = 1 / 25.4  # inches

TRAMPOLINE = """
import fcntl, os, sys
fds = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for old in sys.argv[1:3]:
    os.close(int(old))
os.dup2(fds[0], 3)
os.dup2(fds[1], 4)
os.closerange(5, 1 << 10)
os.execv(sys.argv[3], sys.argv[3:])
"""


class Printer:
    """One browser for one print; ``start`` early, ``print_pdf`` once, always ``close``."""

    def __init__(self, browser: str, timeout: float = 120):
        self.browser, self.timeout = browser, timeout
        self.profile = Path(tempfile.mkdtemp(prefix="handin-chromium-"))
        self._started: list[subprocess.Popen] = []
        # Runs at close(), or at exit if close() is never reached: no browser or profile is left behind.
        self._cleanup = weakref.finalize(self, _cleanup, self._started, str(self.profile))
        self.proc: subprocess.Popen | None = None
        self._out = self._in = -1
        self._buffer = b""
        self._next_id = 0

    def start(self) -> Printer:
        if os.name == "posix":
            try:
                self._launch()
            except OSError:
                self.proc = None  # fall back to the one-shot print
        return self

    def print_pdf(self, html_path: Path, out: Path) -> None:
        """Print ``html_path`` to ``out`` (written whole or not at all)."""
        partial = out.with_name(out.name + ".part")
        partial.unlink(missing_ok=True)
        try:
            if self.proc is not None:
                try:
                    partial.write_bytes(self._print_over_pipe(html_path))
                except (OSError, ValueError, KeyError, TimeoutError, _ProtocolError):
                    self.close()
                    self._print_one_shot(html_path, partial)
            else:
                self._print_one_shot(html_path, partial)
            if not _is_pdf(partial):
                raise HandinError(f"{Path(self.browser).name} printed no PDF")
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)

    def close(self) -> None:
        if self.proc is not None:
            try:
                self._send("Browser.close")
            except (OSError, _ProtocolError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        for fd in (self._out, self._in):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._out = self._in = -1
        self._cleanup()

    # --- the DevTools pipe ---------------------------------------------------------------

    def _launch(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4; a tiny Python
        # trampoline puts the pipes there (whatever numbers they had) and execs it.
        cmd = [sys.executable, "-c", TRAMPOLINE, str(to_child_r), str(from_child_w),
               self.browser, *self._base_flags(), "--remote-debugging-pipe", "about:blank"]
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._started.append(self.proc)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._out, self._in = to_child_w, from_child_r

    def _print_over_pipe(self, html_path: Path) -> bytes:
        deadline = time.monotonic() + self.timeout
        target = self._call("Target.createTarget", {"url": "about:blank"}, deadline)["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline)["sessionId"]
        self._call("Page.enable", {}, deadline, session)
        self._call("Page.navigate", {"url": html_path.as_uri()}, deadline, session)
        self._wait_event("Page.loadEventFired", deadline, session)
        self._call("Runtime.evaluate", {"expression": READY, "awaitPromise": True}, deadline, session)
        result = self._call("Page.printToPDF", {
            "printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": True,
            "headerTemplate": "<span></span>", "footerTemplate": FOOTER,
            # The footer lives in the bottom margin; @page margins apply otherwise.
            "marginTop": 14 * MM, "marginBottom": 14 * MM, "marginLeft": 12 * MM, "marginRight": 12 * MM,
        }, deadline, session)
        return base64.b64decode(result["data"])

    def _call(self, method: str, params: dict[str, Any], deadline: float, session: str | None = None) -> dict:
        msg_id = self._send(method, params, session)
        while True:
            message = self._receive(deadline)
            if message.get("id") == msg_id:
                if "error" in message:
                    raise _ProtocolError(f"{method}: {message['error'].get('message', message['error'])}")
                return message.get("result", {})

    def _wait_event(self, method: str, deadline: float, session: str) -> None:
        while True:
            message = self._receive(deadline)
            if message.get("method") == method and message.get("sessionId") == session:
                return

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self._out, data):]
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer in time")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise _ProtocolError("the browser closed the pipe (did it crash?)")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    # --- the one-shot command ------------------------------------------------------------

    def _print_one_shot(self, html_path: Path, partial: Path) -> None:
        profile = Path(tempfile.mkdtemp(prefix="handin-chromium-"))
        cmd = [self.browser, *self._base_flags(profile), *ONE_SHOT_FLAGS, f"--print-to-pdf={partial}",
               html_path.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL)
            if not _is_pdf(partial) and "--no-sandbox" not in cmd and "sandbox" in proc.stderr.lower():
                cmd.insert(1, "--no-sandbox")  # containers often lack what the sandbox needs
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout,
                                      stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise HandinError(f"{Path(self.browser).name} did not finish printing "
                              f"within {self.timeout:.0f} s") from None
        except OSError as exc:
            raise HandinError(f"could not start {self.browser}: {exc.strerror or exc}") from None
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        if not _is_pdf(partial):
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "dbus" not in ln.lower()]
            raise HandinError(f"{Path(self.browser).name} printed no PDF (exit {proc.returncode})"
                              + (f": {lines[-1].strip()[:300]}" if lines else ""))

    def _base_flags(self, profile: Path | None = None) -> list[str]:
        flags = [*FLAGS, f"--user-data-dir={profile or self.profile}"]
        # Root cannot use Chromium's sandbox; it only guards pages we wrote ourselves anyway.
        if (hasattr(os, "geteuid") and os.geteuid() == 0) or os.environ.get("HANDIN_NO_SANDBOX"):
            flags.insert(1, "--no-sandbox")
        return flags


def _cleanup(started: list[subprocess.Popen], profile: str) -> None:
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(profile, ignore_errors=True)


class _ProtocolError(Exception):
    pass


def _is_pdf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(5) == b"%PDF-"
    except OSError:
        return False
