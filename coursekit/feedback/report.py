"""What goes back to a student: Gradescope's results.json and a feedback page.

Both are built from a SubmissionResult, which holds what the visible checks
printed and why items failed — never hidden test code, hidden inputs or
reference code, since the grader never puts those into it.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from coursekit.autograde.grader import SubmissionResult


def results_json(result: SubmissionResult) -> dict:
    """Gradescope's autograder format: one test per grade id."""
    tests = []
    for item in result.items:
        output = [item.reason]
        if item.advice:
            output += [f"advice: {a}" for a in item.advice]
        if item.visible:
            output += ["", item.visible]
        tests.append({"name": item.grade_id, "score": item.points, "max_score": item.max_points,
                      "status": "passed" if item.passed else "failed", "output": "\n".join(output)})
    return {
        "score": result.score,
        "execution_time": round(result.seconds, 2),
        "output": "\n".join(result.notes),
        "tests": tests,
        "extra_data": {"student": result.student, "assignment": result.assignment,
                       "fingerprint": result.fingerprint, "sandboxed": result.sandboxed,
                       "result": result.to_dict()},
    }


def write_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def feedback_html(result: SubmissionResult) -> str:
    total = sum(i.max_points for i in result.items)
    rows, details = [], []
    for item in result.items:
        mark = "pass" if item.passed else "fail"
        title = html.escape(item.title or item.grade_id)
        rows.append(f'<tr class="{mark}"><td>{item.grade_id}</td><td>{title}</td>'
                    f"<td>{item.points:g} / {item.max_points}</td><td>{html.escape(item.reason)}</td></tr>")
        advice = "".join(f"<p class='advice'>Advice: {html.escape(a)}</p>" for a in item.advice)
        shown = f"<pre>{html.escape(item.visible)}</pre>" if item.visible else "<p>(no output)</p>"
        opened = "" if item.passed else " open"  # what went wrong is what the student came for
        details.append(f"<details{opened}><summary>{item.grade_id}: what the visible check printed</summary>"
                       f"{advice}{shown}</details>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{result.assignment} feedback: {html.escape(result.student)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: left; }}
tr.pass td:nth-child(3) {{ color: #17702b; }} tr.fail td:nth-child(3) {{ color: #b00020; font-weight: bold; }}
pre {{ background: #f6f6f6; padding: .6em; overflow-x: auto; }} .advice {{ color: #8a5300; }}
</style></head><body>
<h1>{result.assignment}: {result.score:g} / {total}</h1>
<p>Student: {html.escape(result.student)}. Every item was checked on the handout data and on new inputs.
An item is all-or-nothing.</p>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<table><tr><th>item</th><th>what</th><th>points</th><th>result</th></tr>
{''.join(rows)}</table>
<h2>Details</h2>
{''.join(details)}
</body></html>
"""


def write_outputs(result: SubmissionResult, autograded: Path, feedback: Path) -> None:
    write_atomic(feedback / "feedback.html", feedback_html(result))
    # results.json last: its presence with a matching fingerprint marks the student as done.
    write_atomic(autograded / "results.json", json.dumps(results_json(result), indent=1))


def read_result(path: Path) -> SubmissionResult | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SubmissionResult.from_dict(data["extra_data"]["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
