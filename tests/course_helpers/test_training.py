"""helpers/training.py (shipped to hw1 as helpers.training): MyTorch and PyTorch trained side by side
from the same start.

The reference MyTorch must learn (digits >= 95 %, regression loss falling)
and must track PyTorch step for step; a MyTorch with one planted bug must
visibly drift away, or the side-by-side comparison would prove nothing.
"""
from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

import mytorch
from helpers.datasets import load_dataset
from helpers import training


def rel_gap(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-12)


@pytest.fixture(scope="module")
def digits_run():
    start = time.perf_counter()
    history = training.train_classification("digits", seed=0, progress=False)
    return history, time.perf_counter() - start


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------

def test_digits_reach_95_percent_like_pytorch_within_a_minute(digits_run):
    history, seconds = digits_run
    my, pt = history["mytorch"], history["pytorch"]
    assert history["dataset"] == "digits"
    assert len(my["test_acc"]) == len(history["epoch"]) == history["config"]["epochs"]
    assert my["test_acc"][-1] >= 0.95, my["test_acc"]
    assert abs(my["test_acc"][-1] - pt["test_acc"][-1]) <= 0.02
    assert seconds < 60, f"digits training took {seconds:.1f} s"
    # It learned, rather than starting high: the first epoch is well below the last.
    assert my["train_loss"][-1] < 0.2 * my["train_loss"][0]


def test_digits_curves_match_pytorch(digits_run):
    history, _ = digits_run
    my, pt = history["mytorch"], history["pytorch"]
    # Same start, same batches, both float64: only rounding separates them.
    assert rel_gap(my["step_loss"][0], pt["step_loss"][0]) < 1e-6
    assert rel_gap(my["train_loss"], pt["train_loss"]).max() < 1e-6
    assert rel_gap(my["test_loss"], pt["test_loss"]).max() < 1e-6
    np.testing.assert_array_equal(my["test_acc"], pt["test_acc"])


def test_digits_seeds_change_the_run():
    a = training.train_classification("digits", seed=1, epochs=1, progress=False)
    b = training.train_classification("digits", seed=2, epochs=1, progress=False)
    assert a["mytorch"]["step_loss"][0] != b["mytorch"]["step_loss"][0]
    assert len(a["mytorch"]["step_loss"]) == int(np.ceil(1347 / a["config"]["batch_size"]))


def test_float32_pytorch_stays_close():
    history = training.train_classification("digits", seed=0, epochs=3, torch_dtype="float32", progress=False)
    my, pt = history["mytorch"], history["pytorch"]
    assert 1e-12 < rel_gap(my["step_loss"][0], pt["step_loss"][0]) < 1e-5  # float32 rounding, no more
    assert rel_gap(my["train_loss"], pt["train_loss"]).max() < 1e-3


def test_classification_on_a_given_dataset():
    ds = load_dataset("digits")
    small = type(ds)("tiny", ds.X_train[:200], ds.y_train[:200], ds.X_test[:50], ds.y_test[:50], 10)
    history = training.train_classification(small, epochs=2, hidden=16, lr=0.1, batch_size=50, progress=False)
    assert history["dataset"] == "tiny"
    assert len(history["mytorch"]["step_loss"]) == 2 * 4
    assert history["config"]["hidden"] == 16


# ---------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def regression_run():
    return training.train_regression(seed=0, progress=False)


def test_regression_loss_decreases(regression_run):
    my = regression_run["mytorch"]
    assert my["train_loss"][-1] < 0.3 * my["train_loss"][0]
    assert my["test_loss"][-1] < 0.5 * my["test_loss"][0]
    # Mostly downhill, epoch over epoch.
    assert np.mean(np.diff(my["test_loss"]) < 0) > 0.8


def test_regression_tracks_pytorch_from_the_first_step(regression_run):
    my, pt = regression_run["mytorch"], regression_run["pytorch"]
    n_steps = int(np.ceil(regression_run["config"]["n_train"] / regression_run["config"]["batch_size"]))
    assert rel_gap(my["step_loss"][0], pt["step_loss"][0]) < 1e-6
    assert rel_gap(my["step_loss"][:n_steps], pt["step_loss"][:n_steps]).max() < 1e-6
    assert rel_gap(my["test_loss"], pt["test_loss"]).max() < 1e-6


def _with_planted_bug(**replacements):
    """A stand-in for a student's mytorch package: the reference, with some classes swapped."""
    nn = SimpleNamespace(**{name: getattr(mytorch.nn, name) for name in mytorch.nn.__all__})
    for name, cls in replacements.items():
        setattr(nn, name, cls)
    return SimpleNamespace(nn=nn, optim=mytorch.optim, models=mytorch.models)


def test_a_wrong_mse_gradient_shows_as_drift():
    class HalfGradientMSE(mytorch.nn.MSELoss):
        def backward(self):
            return super().backward() / 2  # forgot the factor 2 of the square's derivative

    history = training.train_regression(seed=0, epochs=1, mytorch=_with_planted_bug(MSELoss=HalfGradientMSE),
                                        progress=False)
    gap = rel_gap(history["mytorch"]["step_loss"], history["pytorch"]["step_loss"])
    assert gap[0] < 1e-6  # the forward pass is right, so step 1 still agrees ...
    assert gap.max() > 1e-2  # ... and the wrong updates show soon after


def test_a_wrong_cross_entropy_shows_as_drift():
    class SumNotMeanCE(mytorch.nn.CrossEntropyLoss):
        def backward(self):
            return super().backward() * self.O.shape[0]  # summed over the batch instead of averaged

    history = training.train_classification("digits", seed=0, epochs=1, mytorch=_with_planted_bug(
        CrossEntropyLoss=SumNotMeanCE), progress=False)
    gap = rel_gap(history["mytorch"]["step_loss"], history["pytorch"]["step_loss"])
    assert gap[0] < 1e-6 and gap.max() > 1e-2


def test_default_mytorch_is_the_one_on_sys_path(monkeypatch):
    calls = []

    class CountingMLP1(mytorch.models.MLP1):
        def __init__(self, *args):
            calls.append(args)
            super().__init__(*args)

    fake = SimpleNamespace(nn=mytorch.nn, optim=mytorch.optim, models=SimpleNamespace(MLP1=CountingMLP1))
    monkeypatch.setitem(sys.modules, "mytorch", fake)
    training.train_regression(epochs=1, hidden=8, n_train=64, n_test=16, progress=False)
    assert calls == [(3, 2, 8)]


def test_torch_threads_are_restored():
    before = torch.get_num_threads()
    history = training.train_regression(epochs=1, n_train=64, n_test=16, torch_threads=1, progress=False)
    assert torch.get_num_threads() == before
    assert history["config"]["torch_threads"] == 1


# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------

def test_torch_twin_computes_the_same_function():
    np.random.seed(5)
    model = mytorch.models.MLP4(7, 3, 5)  # no square layer on the edges: a missing transpose cannot hide
    for layer in model.layers:
        layer.b = np.random.standard_normal(layer.b.shape)
    net = training.torch_twin(model)
    X = np.random.standard_normal((6, 7))
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(model.forward(X), expected, rtol=1e-12, atol=1e-12)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU"] * 4 + ["Linear", "Identity"]


def test_one_hot_and_minibatches():
    np.testing.assert_array_equal(training.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    batches = training.minibatches(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_progress_without_tqdm_prints_a_line_per_epoch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `from tqdm import tqdm` raise ImportError
    training.train_regression(epochs=2, n_train=64, n_test=16, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if "epoch" in line]
    assert len(lines) == 2
    assert lines[1].startswith("regression epoch 2/2") and "MyTorch loss" in lines[1] and "PyTorch loss" in lines[1]


def test_outside_a_kernel_it_is_not_a_notebook():
    assert training.in_notebook() is False


def test_in_a_notebook_progress_is_one_line_redrawn_in_place(repo):
    """In a Jupyter kernel: no tqdm frames, nothing on stderr; one display, updated in place,
    that a run notebook keeps only in its final state (the summary line)."""
    import nbformat
    from nbclient import NotebookClient

    code = ("from helpers import training\nprint('before')\n"
            "h = training.train_regression(epochs=3, n_train=64, n_test=16)\nprint('after')")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(repo)}}).execute()
    outputs = nb.cells[0].outputs
    assert [(o.output_type, o.get("name")) for o in outputs] == [
        ("stream", "stdout"), ("display_data", None), ("stream", "stdout")], outputs
    line = outputs[1].data["text/plain"]
    assert "\n" not in line and "\r" not in line
    assert line.startswith("regression: 3 epochs in ") and "MyTorch loss" in line and "PyTorch loss" in line, line


def test_progress_false_is_silent(capsys):
    training.train_regression(epochs=2, n_train=64, n_test=16, progress=False)
    assert capsys.readouterr().err == ""


def test_plot_history(digits_run, regression_run):
    fig = training.plot_history(digits_run[0], title="digits")
    try:
        assert len(fig.axes) == 2
        loss_ax, acc_ax = fig.axes
        assert len(loss_ax.get_lines()) == 4 and len(acc_ax.get_lines()) == 2
        labels = [line.get_label() for line in acc_ax.get_lines()]
        assert labels == ["MyTorch", "PyTorch"]
        np.testing.assert_allclose(acc_ax.get_lines()[0].get_ydata(),
                                   100 * np.array(digits_run[0]["mytorch"]["test_acc"]))
        assert fig._suptitle.get_text() == "digits"
    finally:
        matplotlib.pyplot.close(fig)
    fig = training.plot_history(regression_run)
    try:
        assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    finally:
        matplotlib.pyplot.close(fig)


def test_summary(digits_run):
    text = training.summary(digits_run[0])
    assert "MyTorch" in text and "PyTorch" in text and "test acc" in text and "digits" in text


def test_auto_trains_on_fashion_mnist_when_its_files_are_there(tmp_path):
    from test_datasets import tiny_fashion

    tiny_fashion(tmp_path, n_train=40, n_test=10)
    history = training.train_classification("auto", folder=str(tmp_path), epochs=2, progress=False)
    assert history["dataset"] == "fashion-mnist"
    assert history["config"]["batch_size"] == training.CLASSIFICATION_DEFAULTS["fashion-mnist"]["batch_size"]
    assert history["config"]["n_train"] == 40
    assert rel_gap(history["mytorch"]["train_loss"], history["pytorch"]["train_loss"]).max() < 1e-6
