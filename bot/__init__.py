"""perfbot: a ChatOps bot for performance insights."""

__version__ = "0.1.0"
