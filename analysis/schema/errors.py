"""The error every schema check raises: :class:`SchemaError`."""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["SchemaError"]


class SchemaError(ValueError):
    """A table does not match its canonical schema.

    The message names the source (file), the column, a few offending rows and what was
    expected; the same facts are kept as attributes for programs.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        rows: Iterable[Any] = (),
        expected: str | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.rows = list(rows)
        self.expected = expected
        parts = []
        if source:
            parts.append(f"{source}:")
        if column:
            parts.append(f"column {column!r}:")
        text = message.rstrip(". ")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" and {len(self.rows) - 5} more" if len(self.rows) > 5 else ""
            text += f" (row{'s' if len(self.rows) > 1 else ''} {shown}{more})"
        parts.append(text + ".")
        if expected:
            parts.append(f"Expected {expected}.")
        super().__init__(" ".join(parts))
