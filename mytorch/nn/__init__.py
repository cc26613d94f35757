from mytorch.nn.activation import Identity, ReLU, Sigmoid, Tanh
from mytorch.nn.linear import Linear
from mytorch.nn.loss import CrossEntropyLoss, MSELoss

__all__ = ["Linear", "MSELoss", "CrossEntropyLoss", "Identity", "Sigmoid", "Tanh", "ReLU"]
