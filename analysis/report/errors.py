"""The report package's input error, shared by path resolution and parameter validation."""

from __future__ import annotations

__all__ = ["ParameterError"]


class ParameterError(ValueError):
    """A notebook or command parameter is unknown, of the wrong type or has a bad value."""
