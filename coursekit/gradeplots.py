"""Pictures of a class's grades."""
from __future__ import annotations

from pathlib import Path

from coursekit.assignment import Assignment
from coursekit.gradebook import AWAITING, Scores, totals


def plot_grades(scores: Scores, assignment: Assignment, path: Path) -> Path:
    """Left: distribution of totals. Right: share of the class earning each item.

    A written answer awaiting manual grading counts nowhere: a student with one is
    left out of the totals (the title says how many), and out of that item's share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    final = [totals(row, assignment) for row in scores.values()]
    complete = [scored for scored, awaiting in final if not awaiting]
    pending = len(final) - len(complete)
    earned = []
    for item in assignment.items:
        graded = [row.get(item.grade_id, 0) for row in scores.values() if row.get(item.grade_id, 0) is not AWAITING]
        earned.append(sum(p >= item.points for p in graded) / max(len(graded), 1))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.hist(complete, bins=range(0, assignment.total_points + 2), color="tab:blue", edgecolor="white")
    title = f"{assignment.name}: {len(scores)} submissions"
    if pending:
        title += f" ({pending} awaiting manual grading, not shown)"
    left.set(xlabel=f"total points (of {assignment.total_points})", ylabel="students", title=title)
    right.bar([item.grade_id for item in assignment.items], [100 * e for e in earned], color="tab:green")
    right.set(ylabel="% of those graded with full points", ylim=(0, 100), title="per item")
    right.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
