from mytorch.models.mlp import MLP0, MLP1, MLP4

__all__ = ["MLP0", "MLP1", "MLP4"]
