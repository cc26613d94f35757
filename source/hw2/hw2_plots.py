"""Pictures and the training comparison of hw2's tester notebooks.

Every function here runs the student's MyTorch next to PyTorch (or next to
the formula) and draws both, MyTorch thick and solid, PyTorch thin and
dashed on top: curves that agree read as one striped line.  Code that is not
written yet (the released stubs raise NotImplementedError) or that fails is
named in a short printed note and the rest of the picture is still drawn;
nothing here raises because of the student's code, except the training run,
which stops with one printed line.

This module ships to students: at import time it uses numpy and the
standard library only; matplotlib and torch are imported where they are used.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

MYTORCH = dict(lw=3, alpha=0.7)  # thick, solid
PYTORCH = dict(lw=1.3, ls="--")  # thin, dashed, drawn on top


def _mytorch(module: Any = None) -> Any:
    """The student's library, freshly imported from the notebook's folder (as every check does)."""
    if module is not None:
        return module
    from coursekit.runtime.checks.tester import load_mytorch

    return load_mytorch()


def what_failed(exc: BaseException) -> str:
    """One line for a student: what raised, where in their files."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        # The innermost frame in the student's own code (not numpy's, not this module's).
        if "site-packages" in frame.filename or frame.filename.endswith("hw2_plots.py"):
            continue
        if "ipykernel" in frame.filename or frame.filename.startswith("<"):
            where = f" (in {frame.name}, a notebook cell, line {frame.lineno})"
        else:
            where = f" ({Path(frame.filename).name}, line {frame.lineno}, in {frame.name})"
        break
    if isinstance(exc, NotImplementedError):
        return f"not implemented yet{where}"
    return f"{type(exc).__name__}: {exc}{where}"


def _try(label: str, fn: Callable[[], Any], notes: list[str]) -> Any:
    """fn(), or None with a note if the student's code raised."""
    try:
        with np.errstate(all="ignore"):
            return fn()
    except Exception as exc:  # noqa: BLE001 - the picture is drawn without the part that failed
        notes.append(f"{label}: {what_failed(exc)}")
        return None


def _report(notes: list[str]) -> None:
    for note in notes:
        print(f"MyTorch {note}")


def _max_diff(mine: Any, ref: np.ndarray) -> str:
    if mine is None:
        return "—"
    mine = np.asarray(mine, dtype=np.float64)
    if mine.size != ref.size:
        return f"shape {mine.shape}, expected {ref.shape}"
    return f"{np.max(np.abs(mine.reshape(ref.shape) - ref)):.1e}"


def _no_mytorch(ax: Any, text: str = "MyTorch: not available (see the note above the picture)") -> None:
    ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=8, color="C3")


# ---------------------------------------------------------------------------
# Problem 1: GELU and Softmax
# ---------------------------------------------------------------------------

def plot_gelu_softmax(mytorch: Any = None):
    """GELU and its derivative; a two-class softmax along a line and its Jacobian; MyTorch vs PyTorch.

    The softmax panel feeds logits (z, 0): its first probability is the sigmoid
    of z.  Backward with dLdA = (1, 0) returns the first row of the Jacobian,
    (da1/dz1, da1/dz2).
    """
    import matplotlib.pyplot as plt
    import torch

    notes: list[str] = []
    try:
        mt = _mytorch(mytorch)
    except Exception as exc:  # noqa: BLE001 - a package that does not import is the student's to fix
        mt, notes = None, [f"package: {what_failed(exc)}"]

    z = np.linspace(-5, 5, 401)
    # PyTorch: the exact GELU (erf), and softmax, with autograd for the derivatives.
    zt = torch.tensor(z, requires_grad=True)
    gelu_t = torch.nn.functional.gelu(zt)
    (dgelu_t,) = torch.autograd.grad(gelu_t.sum(), zt)
    Z2 = np.stack([z, np.zeros_like(z)], axis=1)
    Z2t = torch.tensor(Z2, requires_grad=True)
    soft_t = torch.softmax(Z2t, dim=1)
    (jrow_t,) = torch.autograd.grad(soft_t[:, 0].sum(), Z2t)
    ref = {"gelu": gelu_t.detach().numpy(), "dgelu": dgelu_t.numpy(),
           "soft": soft_t.detach().numpy(), "jrow": jrow_t.numpy()}

    mine: dict[str, Any] = dict.fromkeys(ref)
    if mt is not None:
        gelu = _try("GELU", lambda: mt.nn.GELU(), notes)
        if gelu is not None:
            mine["gelu"] = _try("GELU.forward", lambda: gelu.forward(z.reshape(1, -1)), notes)
            if mine["gelu"] is not None:
                mine["dgelu"] = _try("GELU.backward", lambda: gelu.backward(np.ones((1, z.size))), notes)
        soft = _try("Softmax", lambda: mt.nn.Softmax(), notes)
        if soft is not None:
            mine["soft"] = _try("Softmax.forward", lambda: soft.forward(Z2.copy()), notes)
            if mine["soft"] is not None:
                e1 = np.tile([1.0, 0.0], (z.size, 1))
                mine["jrow"] = _try("Softmax.backward", lambda: soft.backward(e1), notes)
    flat = {}
    for key, value in mine.items():
        try:
            flat[key] = None if value is None else np.asarray(value, dtype=np.float64).reshape(ref[key].shape)
        except ValueError:
            notes.append(f"{key}: shape {np.shape(value)}, expected {ref[key].shape}")
            flat[key] = None

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = [
        (axes[0], [("gelu", None, "GELU(z)", "C0"), ("dgelu", None, "dGELU/dz", "C1")], "GELU and its derivative"),
        (axes[1], [("soft", 0, "$a_1$", "C0"), ("soft", 1, "$a_2$", "C1")], "softmax of logits $(z, 0)$"),
        (axes[2], [("jrow", 0, r"$\partial a_1/\partial z_1$", "C0"),
                   ("jrow", 1, r"$\partial a_1/\partial z_2$", "C1")],
         "softmax Jacobian, first row"),
    ]
    for ax, curves, title in panels:
        drawn = False
        for key, col, label, color in curves:
            r = ref[key] if col is None else ref[key][:, col]
            m = flat[key]
            if m is not None:
                ax.plot(z, m.ravel() if col is None else m[:, col], color=color, label=f"MyTorch {label}", **MYTORCH)
                drawn = True
            ax.plot(z, r, color="k" if color == "C0" else "0.35", label=f"PyTorch {label}", **PYTORCH)
        if not drawn:
            _no_mytorch(ax)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set(xlabel="z", title=title)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()

    _report(notes)
    print("max |MyTorch - PyTorch|: "
          + ", ".join(f"{name} {_max_diff(flat[key], ref[key])}" for key, name in
                      (("gelu", "GELU"), ("dgelu", "GELU'"), ("soft", "softmax"), ("jrow", "Jacobian row"))))
    return fig


# ---------------------------------------------------------------------------
# Problem 3: BatchNorm1d in training and in evaluation
# ---------------------------------------------------------------------------

BN_MEANS = np.array([-3.0, 0.5, 4.0])
BN_STDS = np.array([0.5, 1.0, 2.0])


def plot_batchnorm(mytorch: Any = None, seed: int = 0, batches: int = 40, batch_size: int = 64, alpha: float = 0.9):
    """Train a BatchNorm1d(3) on ``batches`` batches of three features with different means and
    spreads, then normalise one new batch both ways.

    Top: the features of the new batch, its training-mode output (each feature
    exactly mean 0, variance 1 over the batch) and its evaluation-mode output
    (normalised with the running statistics, so only close to 0 and 1).
    Bottom: running_M and running_V after every training batch, next to the
    formula's values computed here from the same batches (thin dashed).
    """
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    C = len(BN_MEANS)
    data = [BN_MEANS + BN_STDS * rng.standard_normal((batch_size, C)) for _ in range(batches)]
    new = BN_MEANS + BN_STDS * rng.standard_normal((batch_size, C))

    # The formula, by hand.
    want_M, want_V = [], []
    M, V = np.zeros(C), np.ones(C)
    for Z in data:
        M = alpha * M + (1 - alpha) * Z.mean(axis=0)
        V = alpha * V + (1 - alpha) * Z.var(axis=0)
        want_M.append(M)
        want_V.append(V)
    want_M, want_V = np.array(want_M), np.array(want_V)

    notes: list[str] = []
    got_M, got_V, train_out, eval_out = [], [], None, None
    try:
        mt = _mytorch(mytorch)
        bn = mt.nn.BatchNorm1d(C, alpha=alpha)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"BatchNorm1d: {what_failed(exc)}")
        bn = None
    if bn is not None:
        for Z in data:
            if _try("BatchNorm1d.forward (training)", lambda: bn.forward(Z.copy()), notes) is None:  # noqa: B023
                break
            got_M.append(np.asarray(bn.running_M, dtype=np.float64).reshape(-1))
            got_V.append(np.asarray(bn.running_V, dtype=np.float64).reshape(-1))
        if len(got_M) == batches:
            # Evaluation first: it must leave the running statistics alone.
            eval_out = _try("BatchNorm1d.forward (eval)", lambda: bn.forward(new.copy(), eval=True), notes)
            train_out = _try("BatchNorm1d.forward (training)", lambda: bn.forward(new.copy()), notes)

    fig, axes = plt.subplot_mosaic([["Z", "Z", "T", "T", "E", "E"], ["M", "M", "M", "V", "V", "V"]],
                                   figsize=(13, 7))
    bins = np.linspace(-8, 10, 61)
    for c in range(C):
        axes["Z"].hist(new[:, c], bins=bins, alpha=0.6, color=f"C{c}", label=f"feature {c + 1}")
    axes["Z"].set(title="input Z (one new batch)", xlabel="value")
    axes["Z"].legend(fontsize=7)
    bins = np.linspace(-4, 4, 41)
    for key, out, title in (("T", train_out, "training: batch statistics"),
                            ("E", eval_out, "evaluation: running statistics")):
        ax = axes[key]
        ax.set(title=title, xlabel="BZ")
        if out is None:
            _no_mytorch(ax)
            continue
        out = np.asarray(out, dtype=np.float64).reshape(new.shape)
        for c in range(C):
            ax.hist(out[:, c], bins=bins, alpha=0.6, color=f"C{c}",
                    label=f"mean {out[:, c].mean():+.2f}, std {out[:, c].std():.2f}")
        ax.legend(fontsize=7)
    steps = np.arange(1, batches + 1)
    for key, got, want, name, truth in (("M", got_M, want_M, "running_M", BN_MEANS),
                                        ("V", got_V, want_V, "running_V", BN_STDS**2)):
        ax = axes[key]
        for c in range(C):
            if got:
                ax.plot(steps[:len(got)], np.array(got)[:, c], color=f"C{c}", label=f"MyTorch, feature {c + 1}",
                        **MYTORCH)
            ax.plot(steps, want[:, c], color="k", **PYTORCH, label="formula" if c == 0 else None)
            ax.axhline(truth[c], color=f"C{c}", lw=0.6, ls=":")
        if not got:
            _no_mytorch(ax)
        ax.set(title=f"{name} after each training batch (alpha = {alpha}); dotted: the true value",
               xlabel="training batches")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.tight_layout()

    _report(notes)
    if len(got_M) == batches:
        print("running statistics vs the formula, max |difference|: "
              f"running_M {np.abs(np.array(got_M) - want_M).max():.1e}, "
              f"running_V {np.abs(np.array(got_V) - want_V).max():.1e}")
    return fig


# ---------------------------------------------------------------------------
# Problem 4: optimisers on a two-dimensional valley
# ---------------------------------------------------------------------------

# f(x, y) = (x^2 + KAPPA y^2) / 2: a long, narrow valley along x.
KAPPA = 20.0
START = (-4.5, 1.5)
OPTIMISERS = (  # (label, MyTorch class, settings, torch.optim class)
    ("SGD, lr 0.09", "SGD", dict(lr=0.09), "SGD"),
    ("momentum 0.8, lr 0.02", "SGD", dict(lr=0.02, momentum=0.8), "SGD"),
    ("Adam, lr 0.25", "Adam", dict(lr=0.25), "Adam"),
)


def valley(p: np.ndarray) -> tuple[float, np.ndarray]:
    """f and its gradient at p = (x, y)."""
    scale = np.array([1.0, KAPPA])
    return float(0.5 * np.sum(scale * p**2)), scale * p


def _path_torch(name: str, settings: dict, steps: int) -> np.ndarray:
    import torch

    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([p], **settings)
    path = [p.detach().numpy().copy()]
    scale = torch.tensor([1.0, KAPPA], dtype=torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (scale * p**2).sum()).backward()
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.array(path)


def _path_mytorch(mt: Any, name: str, settings: dict, steps: int) -> np.ndarray:
    # The optimiser sees one "layer": W holds the point (1 x 2), b is a bias with zero gradient.
    layer = SimpleNamespace(W=np.array([START], dtype=np.float64), b=np.zeros(1),
                            dLdW=np.zeros((1, 2)), dLdb=np.zeros(1))
    opt = getattr(mt.optim, name)(SimpleNamespace(layers=[layer]), **settings)
    path = [layer.W.reshape(-1).copy()]
    for _ in range(steps):
        layer.dLdW = valley(layer.W.reshape(-1))[1].reshape(1, 2)
        layer.dLdb = np.zeros(1)
        opt.step()
        path.append(np.asarray(layer.W, dtype=np.float64).reshape(-1).copy())
    return np.array(path)


def plot_optimizer_paths(mytorch: Any = None, steps: int = 60):
    """The paths of SGD, SGD with momentum and Adam on f(x, y) = (x² + 20 y²)/2 from (-4.5, 1.5),
    MyTorch's next to torch.optim's, and f along each path."""
    import matplotlib.pyplot as plt

    notes: list[str] = []
    try:
        mt = _mytorch(mytorch)
    except Exception as exc:  # noqa: BLE001
        mt, notes = None, [f"package: {what_failed(exc)}"]
    fig, (ax, ax_f) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw=dict(width_ratios=[1.6, 1]))
    x, y = np.meshgrid(np.linspace(-5, 1.5, 200), np.linspace(-2, 2, 200))
    ax.contour(x, y, 0.5 * (x**2 + KAPPA * y**2), levels=np.geomspace(0.05, 60, 12), colors="0.75", linewidths=0.7)
    ax.plot(0, 0, "k*", ms=10)
    lines = []
    for k, (label, name, settings, torch_name) in enumerate(OPTIMISERS):
        ref = _path_torch(torch_name, settings, steps)
        mine = None if mt is None else _try(f"{name}({', '.join(f'{k}={v}' for k, v in settings.items())})",
                                            lambda: _path_mytorch(mt, name, settings, steps), notes)  # noqa: B023
        color = f"C{k}"
        if mine is not None:
            ax.plot(mine[:, 0], mine[:, 1], color=color, marker="o", ms=3, label=f"MyTorch {label}", **MYTORCH)
            ax_f.semilogy([valley(p)[0] for p in mine], color=color, label=f"MyTorch {label}", **MYTORCH)
        ax.plot(ref[:, 0], ref[:, 1], color="k", **PYTORCH, label="torch.optim" if k == 0 else None)
        ax_f.semilogy([valley(p)[0] for p in ref], color="k", **PYTORCH, label="torch.optim" if k == 0 else None)
        lines.append(f"{label:22s} max |MyTorch - torch.optim| along the path: {_max_diff(mine, ref)}")
    if mt is None or len(notes) == len(OPTIMISERS):
        _no_mytorch(ax)
    ax.set(xlabel="x", ylabel="y", title=f"paths on f(x, y) = (x² + {KAPPA:g} y²) / 2, {steps} steps", aspect="equal")
    ax.legend(fontsize=7, loc="lower right")
    ax_f.set(xlabel="step", ylabel="f", title="f along the path")
    ax_f.legend(fontsize=7)
    fig.tight_layout()
    _report(notes)
    print("\n".join(lines))
    return fig


# ---------------------------------------------------------------------------
# Problem 7: training an MLP with BatchNorm1d, Dropout and Adam
# ---------------------------------------------------------------------------

# Per data set. The digits ones are measured: with the reference library and with PyTorch, the
# final test accuracy is 97.3-98.7 % for seeds 0-5 (no epoch of the last eight below 97.1 %),
# in a few seconds per library on 2 cores. Larger learning rates or a lower dropout rate end
# anywhere between 96.5 and 98.5 %: the digits' 1 347 training images are soon learnt by heart.
TRAINING_DEFAULTS = {
    "digits": dict(epochs=25, hidden=128, p=0.3, lr=0.001, batch_size=32),
    # Timed on random images of Fashion-MNIST's size (60 000 x 784; the real files need a download):
    # an epoch costs several seconds per library on 2 cores, so a few epochs, a narrower layer.
    "fashion-mnist": dict(epochs=5, hidden=128, p=0.2, lr=0.001, batch_size=128),
}


class StopTraining(Exception):
    """The student's code is not ready for the training run; the message says what is missing."""


@contextmanager
def stop_politely() -> Iterator[None]:
    """Wrap a training cell: a StopTraining or NotImplementedError ends it with one printed line."""
    try:
        yield
    except StopTraining as exc:
        print(f"Training skipped: {exc}")
    except NotImplementedError as exc:
        print(f"Training skipped: MyTorch code is {what_failed(exc)}.")


@contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Run the block with numpy's BLAS on ``n`` threads (then restore), if threadpoolctl is installed.

    For matrices this small one thread is fastest; more only add hand-offs, and on a
    busy machine their spinning workers slow everything down several times.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        limits = None
    else:
        limits = threadpool_limits(limits=n, user_api="blas")
    try:
        yield
    finally:
        if limits is not None:
            limits.restore_original_limits()


def torch_twin(modules: list, dtype: str = "float64"):
    """A torch.nn.Sequential computing what the MyTorch ``modules`` compute, with their current parameters.

    Linear: W (in, out) is copied transposed; BatchNorm1d: BW, Bb, eps and momentum = 1 - alpha
    (torch updates running_var with the unbiased variance, so its evaluation differs a little);
    ReLU and Dropout(p) by name.
    """
    import torch

    dt = getattr(torch, dtype)
    out = []
    for m in modules:
        name = type(m).__name__
        if name == "Linear":
            W = np.asarray(m.W, dtype=np.float64)
            lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dt)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(np.asarray(m.b, dtype=np.float64).reshape(-1)))
            out.append(lin)
        elif name == "BatchNorm1d":
            BW = np.asarray(m.BW, dtype=np.float64).reshape(-1)
            eps, alpha = getattr(m, "eps", 1e-8), getattr(m, "alpha", 0.9)  # the handout's values
            bn = torch.nn.BatchNorm1d(BW.size, eps=eps, momentum=1 - alpha, dtype=dt)
            with torch.no_grad():
                bn.weight.copy_(torch.from_numpy(BW))
                bn.bias.copy_(torch.from_numpy(np.asarray(m.Bb, dtype=np.float64).reshape(-1)))
            out.append(bn)
        elif name == "ReLU":
            out.append(torch.nn.ReLU())
        elif name == "Dropout":
            out.append(torch.nn.Dropout(getattr(m, "p", 0.5)))
        else:
            raise TypeError(f"no PyTorch counterpart for {name!r}")
    return torch.nn.Sequential(*out)


def new_history(label: str) -> dict:
    return dict(label=label, epoch=[], train_loss=[], test_loss=[], test_acc=[], seconds=0.0)


def record(history: dict, train_loss: float, test_loss: float, test_acc: float, seconds: float) -> None:
    history["epoch"].append(len(history["epoch"]) + 1)
    history["train_loss"].append(float(train_loss))
    history["test_loss"].append(float(test_loss))
    history["test_acc"].append(float(test_acc))
    history["seconds"] += seconds


def train_torch(net, data, epochs: int, lr: float, batch_size: int, seed: int, threads: int = 1) -> dict:
    """Train ``net`` (from :func:`torch_twin`) with torch.optim.Adam and cross-entropy, the same
    batches in the same order as a train_epoch given ``np.random.default_rng(seed)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # these layers are small: one thread is fastest
    try:
        torch.manual_seed(seed)  # dropout's masks
        rng = np.random.default_rng(seed)
        dt = next(net.parameters()).dtype
        X, y = torch.from_numpy(data.X_train).to(dt), torch.from_numpy(data.y_train)
        Xt, yt = torch.from_numpy(data.X_test).to(dt), torch.from_numpy(data.y_test)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        history = new_history("PyTorch")
        n = len(X)
        for _ in range(epochs):
            start = time.perf_counter()
            net.train()
            order = torch.from_numpy(rng.permutation(n))
            loss_sum = 0.0
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                opt.zero_grad()
                loss = loss_fn(net(X[idx]), y[idx])
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(idx)
            seconds = time.perf_counter() - start
            net.eval()
            with torch.no_grad():
                logits = net(Xt)
                record(history, loss_sum / n, loss_fn(logits, yt).item(),
                       (logits.argmax(dim=1) == yt).double().mean().item(), seconds)
        return history
    finally:
        torch.set_num_threads(before)


def summary_line(history: dict) -> str:
    """One line (under 90 characters): the last epoch's test accuracy and loss, the training time."""
    return (f"{history['label']:8s} test accuracy {100 * history['test_acc'][-1]:.2f} % "
            f"(best {100 * max(history['test_acc']):.2f} %), test loss {history['test_loss'][-1]:.4f}, "
            f"{len(history['epoch'])} epochs in {history['seconds']:.1f} s")


def plot_learning_curves(histories: list[dict], title: str = ""):
    """Loss (train and test) and test accuracy per epoch, every history on the same axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4))
    styles = [dict(color="C0", **MYTORCH), dict(color="C3", **PYTORCH)]
    for history, style in zip(histories, styles):
        if not history["epoch"]:
            continue
        label = history["label"]
        ax_loss.plot(history["epoch"], history["train_loss"], label=f"{label} train", **style)
        ax_loss.plot(history["epoch"], history["test_loss"], marker="o", ms=3, label=f"{label} test", **style)
        ax_acc.plot(history["epoch"], 100 * np.asarray(history["test_acc"]), label=label, **style)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
