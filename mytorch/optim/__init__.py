from mytorch.optim.sgd import SGD
### BEGIN FROM hw2
from mytorch.optim.adam import Adam
### END FROM

### BEGIN UNTIL hw1
__all__ = ["SGD"]
### END UNTIL
### BEGIN FROM hw2
__all__ = ["SGD", "Adam"]
### END FROM
