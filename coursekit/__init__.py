"""coursekit: write, release and grade the MyTorch homework."""
__version__ = "0.1.0"
