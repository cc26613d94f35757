"""Pictures for the tester notebooks: each activation and its derivative."""
from __future__ import annotations

from typing import Any

import numpy as np

ACTIVATIONS = ("Identity", "Sigmoid", "Tanh", "ReLU")


def plot_activations(mytorch: Any = None, names: tuple[str, ...] = ACTIVATIONS):
    """One row per activation: f and f' on a line, then f and f' on a 2-D grid (H = x + y).

    Activations that are not implemented yet get an empty row with a note."""
    import matplotlib.pyplot as plt

    if mytorch is None:
        from coursekit.runtime.checks.tester import load_mytorch

        mytorch = load_mytorch()
    x = np.linspace(-5, 5, 401)
    grid = np.add.outer(np.linspace(-4, 4, 101), np.linspace(-4, 4, 101))
    fig, axes = plt.subplots(len(names), 3, figsize=(11, 2.6 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        try:
            f = getattr(mytorch.nn, name)()
            line = (f.forward(x.reshape(1, -1)).ravel(), f.backward().ravel())
            image = (f.forward(grid), f.backward())
        except Exception as exc:  # noqa: BLE001 - a missing activation must not hide the others
            for ax in row:
                ax.set_axis_off()
            row[0].text(0, 0.5, f"{name}: {type(exc).__name__}: {exc}", transform=row[0].transAxes)
            continue
        row[0].plot(x, line[0], label=f"{name}(H)")
        row[0].plot(x, line[1], "--", label=f"d{name}/dH")
        row[0].axhline(0, color="grey", lw=0.5)
        row[0].legend(loc="upper left", fontsize=8)
        row[0].set_xlabel("H")
        for ax, values, label in ((row[1], image[0], f"{name}(x + y)"), (row[2], image[1], f"d{name}/dH at x + y")):
            im = ax.imshow(values, extent=(-4, 4, -4, 4), origin="lower", cmap="viridis")
            ax.set_title(label, fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
