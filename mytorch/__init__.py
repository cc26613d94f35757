"""MyTorch: a small PyTorch-like deep-learning library in pure numpy."""
from mytorch import models, nn, optim

__all__ = ["nn", "optim", "models"]
