"""Pictures of a class's grades."""
from __future__ import annotations

from pathlib import Path

from coursekit.assignment import Assignment
from coursekit.gradebook import Scores


def plot_grades(scores: Scores, assignment: Assignment, path: Path) -> Path:
    """Left: distribution of totals. Right: share of the class earning each item."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = [item.grade_id for item in assignment.items]
    totals = [sum(row.get(g, 0) for g in ids) for row in scores.values()]
    earned = [sum(row.get(item.grade_id, 0) >= item.points for row in scores.values()) / max(len(scores), 1)
              for item in assignment.items]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.hist(totals, bins=range(0, assignment.total_points + 2), color="tab:blue", edgecolor="white")
    left.set(xlabel=f"total points (of {assignment.total_points})", ylabel="students",
             title=f"{assignment.name}: {len(scores)} submissions")
    right.bar(ids, [100 * e for e in earned], color="tab:green")
    right.set(ylabel="% of class with full points", ylim=(0, 100), title="per item")
    right.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
