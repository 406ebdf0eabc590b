"""The version of skmice."""

__version__ = "0.1.0"
