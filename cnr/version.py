"""The kit's version, in a module of its own so that files it writes can carry it without importing the package."""
__version__ = "0.1.0"
