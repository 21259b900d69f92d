"""The user's mapping of application attributes or columns onto canonical columns.

A mapping is a dict (or a YAML file holding one) from a source name to a column, canonical or
new: a target that is not a canonical column becomes a column of its own (kept in the table and in
converted Parquet, so the investigation can segment by it)::

    app.risk_tier: risk_category          # a span attribute, Langfuse metadata key or file column
    app.language: language                # a new column
    guardrail.blocked: refused
    score.verdict:                         # with a value map
      column: refused
      values: {refused: true, answered: false}

Loaders never invent labels: an outcome column is filled only from the file's own column of
that name or through an entry here, and a value missing from a value map stays missing (and is
counted in a warning), it is never guessed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping as TMapping

import numpy as np
import pandas as pd
import yaml

from ..schema import SchemaError, TableSchema

__all__ = ["ColumnMap", "Mapping", "load_mapping", "MappingState", "required_sources"]


@dataclass(frozen=True)
class ColumnMap:
    source: str
    target: str
    values: dict[str, Any] | None = None


@dataclass(frozen=True)
class Mapping:
    entries: tuple[ColumnMap, ...] = ()

    @property
    def sources(self) -> list[str]:
        return [e.source for e in self.entries]

    def __bool__(self) -> bool:
        return bool(self.entries)


def _norm(v: Any) -> str:
    """How raw values are compared with the keys of a value map."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip().lower()


def load_mapping(mapping: TMapping[str, Any] | str | Path | None, schema: TableSchema) -> Mapping:
    """Read and check a mapping (dict, or path to a YAML file).

    Raises
    ------
    SchemaError
        When the file cannot be read, a target is not a column name (empty, not a string), or
        two sources map onto the same column.
    """
    if mapping is None:
        return Mapping()
    where = None
    if isinstance(mapping, (str, Path)):
        where = str(mapping)
        p = Path(mapping)
        if not p.is_file():
            raise SchemaError("mapping file not found.", source=where)
        try:
            mapping = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise SchemaError(f"cannot read the mapping: {e}", source=where) from None
    if not isinstance(mapping, dict):
        raise SchemaError(
            f"`mapping` must be a dict or a YAML file holding one, got {type(mapping).__name__}", source=where
        )
    entries: list[ColumnMap] = []
    seen: dict[str, str] = {}
    for src, spec in mapping.items():
        values = None
        if isinstance(spec, dict):
            target = spec.get("column")
            values = spec.get("values")
            if values is not None and not isinstance(values, dict):
                raise SchemaError(f"`mapping[{src!r}]['values']` must be a dict, got {values!r}", source=where)
            values = {_norm(k): v for k, v in (values or {}).items()} if values is not None else None
        else:
            target = spec
        if not isinstance(target, str) or not target.strip():
            raise SchemaError(
                f"`mapping[{src!r}]` must name a column (a canonical column of the {schema.name} table, or a new one), got {target!r}",
                source=where,
                expected=f"a column name such as one of {schema.names[:6]} ... or your own (e.g. 'language')",
            )
        if target in seen:
            raise SchemaError(
                f"`mapping` maps both {seen[target]!r} and {src!r} onto {target!r}; keep one", source=where
            )
        seen[target] = str(src)
        entries.append(ColumnMap(str(src), target, values))
    return Mapping(tuple(entries))


def required_sources(mapping: Mapping, schema: TableSchema) -> list[str]:
    """The names the input must carry for each required column: its mapped source, else the column."""
    by_target = {e.target: e.source for e in mapping.entries}
    return [by_target.get(c, c) for c in schema.required]


@dataclass
class MappingState:
    """Applies a mapping chunk by chunk and collects what to warn about at the end."""

    mapping: Mapping
    found: set[str] = field(default_factory=set)
    replaced: set[str] = field(default_factory=set)
    unmapped: Counter = field(default_factory=Counter)
    rows: int = 0

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rename mapped source columns to their targets and apply the value maps."""
        self.rows += len(frame)
        if not self.mapping:
            return frame
        renames: dict[str, str] = {}
        drop: list[str] = []
        for e in self.mapping.entries:
            if e.source not in frame.columns or e.source == e.target:
                continue
            self.found.add(e.source)
            if e.target in frame.columns:
                self.replaced.add(e.target)
                drop.append(e.target)
            renames[e.source] = e.target
        if drop:
            frame = frame.drop(columns=drop)
        if renames:
            frame = frame.rename(columns=renames)
        for e in self.mapping.entries:
            here = e.source in renames or (e.source == e.target and e.target in frame.columns)
            if here:
                self.found.add(e.source)
            if e.values is None or not here:
                continue
            s = frame[e.target]
            vals = s.to_numpy(dtype=object, na_value=None)
            out = np.empty(len(vals), dtype=object)
            for i, v in enumerate(vals):
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    out[i] = None
                    continue
                k = _norm(v)
                if k in e.values:
                    out[i] = e.values[k]
                else:
                    out[i] = None
                    self.unmapped[(e.source, str(v))] += 1
            frame = frame.assign(**{e.target: pd.Series(out, index=frame.index, dtype=object)})
        return frame

    def warnings(self) -> list[str]:
        out: list[str] = []
        if not self.mapping:
            return out
        for e in self.mapping.entries:
            if e.source not in self.found:
                out.append(f"mapping: {e.source!r} (-> {e.target}) was not found in the input; {e.target} not filled from it")
        for t in sorted(self.replaced):
            out.append(f"mapping: the file's own column {t!r} was replaced by the mapped one")
        by_source: dict[str, list[tuple[str, int]]] = {}
        for (src, v), c in self.unmapped.items():
            by_source.setdefault(src, []).append((v, c))
        for src, vs in by_source.items():
            total = sum(c for _, c in vs)
            shown = ", ".join(f"{v!r} ({c})" for v, c in sorted(vs, key=lambda x: -x[1])[:5])
            out.append(f"mapping: {total} value(s) of {src!r} are not in its value map and were left missing: {shown}")
        return out
