"""tap-hrsource: a Singer tap for HR data from file exports and SQL databases."""

__version__ = "0.1.0"
"""The package version, the one place it is set (pyproject.toml reads it through hatch)."""
