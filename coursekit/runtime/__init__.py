"""What ships to students, copied whole into every release: the tester helpers (``checks``), the
hand-in command (``handin``) and the PyTorch installer (``pytorch``).

Nothing here imports the rest of the kit (``tests/test_layers.py``): a release has only this folder.
"""
