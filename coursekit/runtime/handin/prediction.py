"""The hand-in's predicted grade: ``coursekit.runtime.checks.predict`` run in a process of its own.

Started before the notebooks run and read after, so it costs no time of its
own.  An item that hangs is stopped after ``item_seconds`` (the grader would
stop it too) and the prediction goes on after it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from coursekit.runtime.checks.library import builds_on, suspects_note
from coursekit.runtime.checks.predict import result
from coursekit.runtime.checks.tester import Outcome

ITEM_SECONDS = 120.0


class Prediction:
    """The predictor's process(es) for one folder; :meth:`results` waits for them."""

    def __init__(self, folder: Path, items: list[dict], item_seconds: float = ITEM_SECONDS):
        self.folder, self.item_seconds = folder, item_seconds
        self.items = [i for i in items if not i.get("manual")]
        self.done: dict[str, dict] = {}
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while len(self.done) < len(self.items):
            skip = [arg for g in self.done for arg in ("--skip", g)]
            self._proc = proc = subprocess.Popen([sys.executable, "-m", "coursekit.runtime.checks.predict", *skip],
                                                 cwd=self.folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                 stderr=subprocess.DEVNULL, text=True)
            lines: list[str] = []
            # Joined within this iteration, so the loop's lines and proc are the ones it reads.
            reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # noqa: B023
            reader.start()
            last, seen = time.monotonic(), 0
            while reader.is_alive():
                reader.join(0.2)
                if len(lines) > seen:
                    last, seen = time.monotonic(), len(lines)
                elif time.monotonic() - last > self.item_seconds:
                    proc.kill()
                    break
            proc.wait()
            reader.join(1)
            for line in lines:
                try:
                    result = json.loads(line)
                    self.done[result["grade_id"]] = result
                except (ValueError, KeyError, TypeError):
                    continue
            pending = [i for i in self.items if i["grade_id"] not in self.done]
            if pending and proc.returncode == 2 and not lines:  # the predictor itself cannot run here
                for item in pending:
                    self.done[item["grade_id"]] = _failed(item, "could not be predicted (is this the "
                                                                "released assignment folder?)")
            elif pending:  # the next item stopped or crashed the predictor: it fails, the rest go on
                why = (f"stopped after {self.item_seconds:g} s without finishing (an endless loop?)"
                       if proc.returncode is not None and proc.returncode < 0 else
                       f"the check ended Python (exit status {proc.returncode})")
                self.done[pending[0]["grade_id"]] = _failed(pending[0], why)

    def close(self) -> None:
        """Stop the predictor (handin.py was interrupted)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def results(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Per autograded item, in the assignment's order; a failed item whose foundations fail says so."""
        self._thread.join(timeout)
        files = {i["grade_id"]: i.get("files", []) for i in self.items}
        out = []
        for item in self.items:
            result = dict(self.done.get(item["grade_id"]) or _failed(item, "not predicted"))
            if not result["ok"]:
                failed = [g for g in builds_on(files, item["grade_id"])
                          if not self.done.get(g, {}).get("ok", True)]
                note = suspects_note(failed)
                result["message"] += f"\n{note}" if note else ""
            out.append(result)
        return out


def _failed(item: dict, why: str) -> dict[str, Any]:
    return result(item["grade_id"], item["points"], "", Outcome(False, why))


def summary_lines(results: list[dict[str, Any]], written: list[dict]) -> list[str]:
    """The prediction as the terminal shows it."""
    width = max([len(r["grade_id"]) for r in results] + [len(w["grade_id"]) for w in written] + [4])
    lines = []
    for r in results:
        got = r["points"] if r["ok"] else 0
        head = f"  {r['grade_id'].ljust(width)}  {got:g}/{r['points']:g}  "
        if r["ok"]:
            lines.append(head + "pass")
            continue
        first, *rest = r["message"].splitlines() or [""]
        lines.append(head + f"FAIL ({r['case']}) {first}" if r["case"] else head + f"FAIL {first}")
        lines += [" " * (len(head) + 5) + line for line in rest]
        if r.get("retry"):
            lines.append(" " * (len(head) + 5) + r["retry"])
    for w in written:
        lines.append(f"  {w['grade_id'].ljust(width)}  ?/{w['points']:g}  written: graded by hand")
    earned = sum(r["points"] for r in results if r["ok"])
    total = sum(r["points"] for r in results)
    verdict = ("visible checks and random cases pass; hidden cases decide the grade" if earned == total else
               "fix the items marked FAIL; hidden cases decide the rest")
    by_hand = sum(w["points"] for w in written)
    lines.append(f"predicted: {earned:g} / {total:g} autograded points ({verdict})"
                 + (f"; {by_hand:g} more points are graded by hand" if by_hand else ""))
    return lines
