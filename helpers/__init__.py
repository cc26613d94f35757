"""This course's own helper modules for its tester notebooks (training side by side, plots).

Course content, not kit: they know the MyTorch API. Each assignment's
declaration ships the ones its notebooks import (its ``ship`` list), at
the path the notebooks import them from.
"""
