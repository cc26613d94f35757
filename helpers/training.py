"""Train a MyTorch model and its PyTorch twin side by side (TrainingTester).

Both start from the same weights (MyTorch's ``W`` is inputs x outputs, so it
is copied transposed into ``torch.nn.Linear.weight``), see the same
minibatches in the same order and use the same learning rate. With PyTorch
in float64 (the default here) the two runs then differ only by rounding, so
any visible gap between the curves is a bug in the MyTorch code.

Progress (``progress=True``): in a Jupyter kernel, one line of output that
each epoch redraws in place (an IPython display updated by its id, so a
saved notebook keeps only its last state) and that ends as a one-line
summary; nothing goes to stderr. Elsewhere (a terminal), a tqdm bar on
stderr, or one printed line per epoch without tqdm.

This module ships to students: it imports numpy at import time and nothing
else outside the standard library; matplotlib, tqdm (optional), IPython and
torch are imported inside the functions that need them.
"""
from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from helpers.datasets import Dataset, load_dataset

if TYPE_CHECKING:  # annotations only: torch and matplotlib are imported where they are used
    import matplotlib.figure
    import torch

FRAMEWORKS = ("mytorch", "pytorch")
LABELS = {"mytorch": "MyTorch", "pytorch": "PyTorch"}

# Per-data-set defaults. The digits ones are measured: >= 96 % test accuracy
# for seeds 0-9, the MyTorch side in about half a second. Plain SGD on raw
# [0, 1] pixels needs this small batch and step: larger ones train faster but
# their test accuracy jumps down by 5-30 points at random epochs.
CLASSIFICATION_DEFAULTS = {
    "digits": dict(epochs=20, hidden=128, lr=0.05, batch_size=8),
    "fashion-mnist": dict(epochs=10, hidden=128, lr=0.05, batch_size=32),
}

History = dict[str, Any]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def _mytorch(module: ModuleType | None) -> ModuleType:
    """The MyTorch package to train: the one given, else whichever ``mytorch`` is on sys.path."""
    return module if module is not None else importlib.import_module("mytorch")


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """y: (N,) int labels -> (N, num_classes) float64 rows with a single 1."""
    return np.eye(num_classes)[y]


def torch_twin(model: Any, dtype: str = "float64") -> torch.nn.Sequential:
    """A ``torch.nn.Sequential`` computing what the MyTorch MLP ``model`` computes, with its current weights.

    ``model`` has ``layers`` (Linear, ``W`` (in, out), ``b`` (out,) or (1, out))
    and ``f`` (one activation per layer, matched by class name).
    """
    import torch

    acts = {"ReLU": torch.nn.ReLU, "Sigmoid": torch.nn.Sigmoid, "Tanh": torch.nn.Tanh, "Identity": torch.nn.Identity}
    dt = getattr(torch, dtype)
    modules = []
    for layer, f in zip(model.layers, model.f):
        W = np.asarray(layer.W)
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dt)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))  # torch stores (out, in)
            linear.bias.copy_(torch.from_numpy(np.asarray(layer.b, dtype=np.float64).reshape(-1)))
        name = type(f).__name__
        if name not in acts:
            raise TypeError(f"no PyTorch counterpart for activation {name!r}")
        modules += [linear, acts[name]()]
    return torch.nn.Sequential(*modules)


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with PyTorch using ``n`` intra-op threads (None: leave as is), then restore.

    For layers this small one thread is fastest: more only add hand-offs, and
    on a busy machine their workers spin against numpy's for the same cores.
    """
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def minibatches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's shuffled index batches (the last may be smaller)."""
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


class _Printer:
    """Stand-in for tqdm when it is not installed: one printed line per epoch."""

    def __init__(self, iterable: Iterable, desc: str, total: int):
        self.iterable, self.desc, self.total, self.postfix = iterable, desc, total, ""

    def __iter__(self) -> Iterator:
        for i, item in enumerate(self.iterable, 1):
            yield item
            print(f"{self.desc} epoch {i}/{self.total} {self.postfix}", file=sys.stderr, flush=True)

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s

    def close(self) -> None:
        pass


class _Silent(_Printer):
    """No output at all (progress=False)."""

    def __init__(self, iterable: Iterable):
        super().__init__(iterable, "", 0)

    def __iter__(self) -> Iterator:
        return iter(self.iterable)


class _NotebookLine(_Printer):
    """In a Jupyter kernel: one text output redrawn in place every epoch, ending as a summary line.

    An IPython display with a ``display_id``, updated rather than appended to:
    the live notebook shows one changing line, and a saved (or nbclient-run)
    notebook keeps only the last one. Nothing is written to stderr.
    """

    def __init__(self, iterable: Iterable, desc: str, total: int):
        from IPython.display import display

        super().__init__(iterable, desc, total)
        self.done, self.start = 0, time.perf_counter()
        self.handle = display({"text/plain": f"{desc}: {total} epochs to go"}, raw=True, display_id=True)

    def __iter__(self) -> Iterator:
        for i, item in enumerate(self.iterable, 1):
            yield item
            self.done = i
            self._show(f"{self.desc}: epoch {i}/{self.total}  {self.postfix}")

    def close(self) -> None:
        seconds = time.perf_counter() - self.start
        self._show(f"{self.desc}: {self.done} epochs in {seconds:.1f} s — {self.postfix}")

    def _show(self, line: str) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": line.rstrip()}, raw=True)


def in_notebook() -> bool:
    """True inside a Jupyter kernel; False in a terminal (plain or IPython) or a script.

    Looks only at what is already imported: a script that never loaded IPython
    is not a notebook."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    return getattr(shell, "kernel", None) is not None


def _progress(epochs: int, desc: str, enabled: bool) -> Any:
    """Progress over the epochs: a line redrawn in place in a notebook; elsewhere tqdm on stderr
    if installed, else one printed line per epoch."""
    if not enabled:
        return _Silent(range(epochs))
    if in_notebook():
        return _NotebookLine(range(epochs), desc, epochs)
    try:
        from tqdm import tqdm
    except ImportError:
        return _Printer(range(epochs), desc, epochs)
    return tqdm(range(epochs), desc=desc, unit="epoch", file=sys.stderr)


def _new_history(task: str, dataset: str, config: dict) -> History:
    metrics = ("train_loss", "test_loss", "test_acc", "step_loss") if task == "classification" else (
        "train_loss", "test_loss", "step_loss")
    return {
        "task": task,
        "dataset": dataset,
        "config": config,
        "epoch": [],
        **{fw: {**{m: [] for m in metrics}, "seconds": 0.0} for fw in FRAMEWORKS},
    }


def _run(
    history: History,
    epochs: int,
    batch_size: int,
    seed: int,
    X_train: np.ndarray,
    steps: dict[str, Callable[[np.ndarray], float]],
    evaluate: dict[str, Callable[[], dict[str, float]]],
    progress: bool,
    desc: str,
) -> History:
    """The shared loop: every epoch, each framework takes the same batches, then is evaluated."""
    rng = np.random.default_rng(seed)
    bar = _progress(epochs, desc, progress)
    n = len(X_train)
    for epoch in bar:
        batches = minibatches(n, batch_size, rng)
        for fw in FRAMEWORKS:
            rec = history[fw]
            start = time.perf_counter()
            losses = [steps[fw](idx) for idx in batches]
            rec["seconds"] += time.perf_counter() - start
            rec["step_loss"] += losses
            # Weighted by batch size, so it is the mean loss over the epoch's examples.
            rec["train_loss"].append(float(np.dot(losses, [len(b) for b in batches]) / n))
            for key, value in evaluate[fw]().items():
                rec[key].append(value)
        history["epoch"].append(epoch + 1)
        bar.set_postfix_str(_postfix(history))
    bar.close()
    return history


def _postfix(history: History) -> str:
    parts = []
    for fw in FRAMEWORKS:
        rec = history[fw]
        s = f"{LABELS[fw]} loss {rec['train_loss'][-1]:.4f}"
        if "test_acc" in rec:
            s += f" acc {100 * rec['test_acc'][-1]:.1f}%"
        parts.append(s)
    return " | ".join(parts)


# ---------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------

def make_regression_data(
    n_train: int = 1024, n_test: int = 512, noise: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Smooth nonlinear targets of 3 inputs -> X (N, 3) in [-1, 1], Y (N, 2); float64.

    Two outputs, so a loss that averages over N instead of N x q shows up.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n_train + n_test, 3))
    Y = np.stack([np.sin(np.pi * X[:, 0]) * np.cos(X[:, 1]), X[:, 1] ** 2 - X[:, 0] * X[:, 2]], axis=1)
    Y += noise * rng.standard_normal(Y.shape)
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


def train_regression(
    seed: int = 0,
    epochs: int = 30,
    hidden: int = 64,
    lr: float = 0.1,
    batch_size: int = 32,
    n_train: int = 1024,
    n_test: int = 512,
    mytorch: ModuleType | None = None,
    torch_dtype: str = "float64",
    torch_threads: int | None = 1,
    progress: bool = True,
) -> History:
    """MyTorch MLP1 + MSELoss + SGD vs torch Linear-ReLU-Linear + MSELoss + SGD on synthetic data.

    Returns a history: ``history["mytorch"]`` and ``history["pytorch"]`` each
    hold per-epoch ``train_loss`` (mean over the epoch's batches), ``test_loss``,
    per-step ``step_loss`` and training ``seconds``. ``torch_threads``: PyTorch's
    thread count during the run (restored afterwards; None leaves it alone).
    """
    import torch

    mt = _mytorch(mytorch)
    X_train, Y_train, X_test, Y_test = make_regression_data(n_train, n_test, seed=seed)

    np.random.seed(seed)  # MyTorch's Linear draws from numpy's global generator
    model = mt.models.MLP1(X_train.shape[1], Y_train.shape[1], hidden)
    net = torch_twin(model, torch_dtype)
    my_loss, my_opt = mt.nn.MSELoss(), mt.optim.SGD(model, lr=lr)
    pt_loss, pt_opt = torch.nn.MSELoss(), torch.optim.SGD(net.parameters(), lr=lr)

    dt = getattr(torch, torch_dtype)
    Xt_train, Yt_train = torch.from_numpy(X_train).to(dt), torch.from_numpy(Y_train).to(dt)
    Xt_test, Yt_test = torch.from_numpy(X_test).to(dt), torch.from_numpy(Y_test).to(dt)

    steps = _steps(model, my_loss, my_opt, X_train, Y_train, net, pt_loss, pt_opt, Xt_train, Yt_train)

    def my_eval() -> dict[str, float]:
        return {"test_loss": float(my_loss.forward(model.forward(X_test), Y_test))}

    def pt_eval() -> dict[str, float]:
        with torch.no_grad():
            return {"test_loss": pt_loss(net(Xt_test), Yt_test).item()}

    config = dict(seed=seed, epochs=epochs, hidden=hidden, lr=lr, batch_size=batch_size,
                  n_train=n_train, n_test=n_test, torch_dtype=torch_dtype, torch_threads=torch_threads)
    history = _new_history("regression", "synthetic", config)
    with _torch_threads(torch_threads):
        return _run(history, epochs, batch_size, seed, X_train,
                    steps, {"mytorch": my_eval, "pytorch": pt_eval},
                    progress, "regression")


def _steps(model, my_loss, my_opt, X, Y, net, pt_loss, pt_opt, Xt, Yt) -> dict:
    """One SGD step of each framework on the same mini-batch (indices into the training set)."""
    import torch

    def my_step(idx: np.ndarray) -> float:
        loss = my_loss.forward(model.forward(X[idx]), Y[idx])
        model.backward(my_loss.backward())
        my_opt.step()
        return float(loss)

    def pt_step(idx: np.ndarray) -> float:
        i = torch.from_numpy(idx)
        pt_opt.zero_grad()
        loss = pt_loss(net(Xt[i]), Yt[i])
        loss.backward()
        pt_opt.step()
        return loss.item()

    return {"mytorch": my_step, "pytorch": pt_step}


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------

def train_classification(
    dataset: str | Dataset = "auto",
    seed: int = 0,
    epochs: int | None = None,
    hidden: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    folder: str = "data",
    mytorch: ModuleType | None = None,
    torch_dtype: str = "float64",
    torch_threads: int | None = 1,
    progress: bool = True,
) -> History:
    """MyTorch MLP1 + CrossEntropyLoss (one-hot targets) + SGD vs the same in PyTorch.

    ``dataset``: "auto" (Fashion-MNIST if its files are in ``folder``, else
    the digits), "fashion-mnist", "digits" or a loaded Dataset. Settings left
    as None take the data set's entry in CLASSIFICATION_DEFAULTS.
    Returns a history: per framework, per-epoch ``train_loss``, ``test_loss``,
    ``test_acc`` (fraction), per-step ``step_loss`` and training ``seconds``.
    ``torch_threads``: PyTorch's thread count during the run (restored
    afterwards; None leaves it alone).
    """
    import torch

    mt = _mytorch(mytorch)
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, folder)
    defaults = CLASSIFICATION_DEFAULTS.get(ds.name, CLASSIFICATION_DEFAULTS["digits"])
    epochs = defaults["epochs"] if epochs is None else epochs
    hidden = defaults["hidden"] if hidden is None else hidden
    lr = defaults["lr"] if lr is None else lr
    batch_size = defaults["batch_size"] if batch_size is None else batch_size

    X_train, y_train, X_test, y_test = ds.X_train, ds.y_train, ds.X_test, ds.y_test
    Y_train, Y_test = one_hot(y_train, ds.num_classes), one_hot(y_test, ds.num_classes)

    np.random.seed(seed)  # MyTorch's Linear draws from numpy's global generator
    model = mt.models.MLP1(ds.num_features, ds.num_classes, hidden)
    net = torch_twin(model, torch_dtype)
    my_loss, my_opt = mt.nn.CrossEntropyLoss(), mt.optim.SGD(model, lr=lr)
    pt_loss, pt_opt = torch.nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=lr)

    dt = getattr(torch, torch_dtype)
    # PyTorch takes class indices, which is the same loss as one-hot targets.
    Xt_train, yt_train = torch.from_numpy(X_train).to(dt), torch.from_numpy(y_train)
    Xt_test, yt_test = torch.from_numpy(X_test).to(dt), torch.from_numpy(y_test)

    steps = _steps(model, my_loss, my_opt, X_train, Y_train, net, pt_loss, pt_opt, Xt_train, yt_train)

    def my_eval() -> dict[str, float]:
        logits = np.asarray(model.forward(X_test))
        return {"test_loss": float(my_loss.forward(logits, Y_test)),
                "test_acc": float(np.mean(logits.argmax(axis=1) == y_test))}

    def pt_eval() -> dict[str, float]:
        with torch.no_grad():
            logits = net(Xt_test)
            return {"test_loss": pt_loss(logits, yt_test).item(),
                    "test_acc": (logits.argmax(dim=1) == yt_test).double().mean().item()}

    config = dict(seed=seed, epochs=epochs, hidden=hidden, lr=lr, batch_size=batch_size,
                  torch_dtype=torch_dtype, torch_threads=torch_threads, n_train=len(X_train), n_test=len(X_test))
    history = _new_history("classification", ds.name, config)
    with _torch_threads(torch_threads):
        return _run(history, epochs, batch_size, seed, X_train,
                    steps, {"mytorch": my_eval, "pytorch": pt_eval},
                    progress, ds.name)


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def summary(history: History) -> str:
    """A few lines: final metrics and training time of each framework, and their largest gap."""
    lines = [f"{history['task']} on {history['dataset']}, {len(history['epoch'])} epochs"]
    for fw in FRAMEWORKS:
        rec = history[fw]
        s = f"  {LABELS[fw]:8s} train loss {rec['train_loss'][-1]:.5f}  test loss {rec['test_loss'][-1]:.5f}"
        if "test_acc" in rec:
            s += f"  test acc {100 * rec['test_acc'][-1]:.2f}%"
        lines.append(s + f"  ({rec['seconds']:.2f} s)")
    my, pt = np.asarray(history["mytorch"]["step_loss"]), np.asarray(history["pytorch"]["step_loss"])
    gap = np.abs(my - pt) / np.maximum(np.abs(pt), 1e-12)
    lines.append(f"  largest relative gap between the step losses: {gap.max():.2e} (first step {gap[0]:.2e})")
    return "\n".join(lines)


def plot_history(history: History, title: str | None = None) -> matplotlib.figure.Figure:
    """Learning curves, MyTorch and PyTorch on the same axes: loss, and test accuracy if recorded."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    has_acc = "test_acc" in history["mytorch"]
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6, 4), squeeze=False)
    axes = axes[0]
    epochs = history["epoch"]
    # MyTorch thick and solid, PyTorch thin and dashed on top: matching curves read as one striped line.
    style = {"mytorch": dict(color="C0", lw=3, alpha=0.7), "pytorch": dict(color="C3", lw=1.5, ls="--")}
    for fw in FRAMEWORKS:
        rec = history[fw]
        axes[0].plot(epochs, rec["train_loss"], label=f"{LABELS[fw]} train", **style[fw])
        axes[0].plot(epochs, rec["test_loss"], label=f"{LABELS[fw]} test", marker="o", ms=3, **style[fw])
        if has_acc:
            axes[1].plot(epochs, 100 * np.asarray(rec["test_acc"]), label=LABELS[fw], **style[fw])
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    if history["task"] == "regression":
        axes[0].set_yscale("log")
    axes[0].legend()
    if has_acc:
        axes[1].set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
        axes[1].legend()
    fig.suptitle(title or f"{history['task']} on {history['dataset']}: MyTorch vs PyTorch")
    fig.tight_layout()
    return fig
