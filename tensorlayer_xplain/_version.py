"""The package version (one place: setup.py reads it here, the store records it)."""
__version__ = "0.1.0"
