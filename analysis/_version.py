"""The kit's version (kept in step with ``pyproject.toml``; a test checks it), importable from any layer."""

__version__ = "0.1.0"
