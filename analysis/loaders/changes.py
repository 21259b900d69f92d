"""Change logs: CSV, JSON Lines, JSON, Parquet (through the canonical readers) and YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .canonical import Collector
from .result import LoadError

__all__ = ["read_yaml"]


class _StringTimesLoader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as the strings they were written as.

    PyYAML turns ``2026-03-01 12:00`` into a naive datetime and ``2026-03-01T12:00:00Z`` into an
    aware one; keeping the text lets the schema apply one rule to every format.
    """


_StringTimesLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path, col: Collector) -> None:
    """A YAML list of changes (or a mapping with a ``changes`` list); ``row`` is the item's line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(f"is not valid UTF-8 ({e.reason} at byte {e.start}).", source=str(path)) from None
    try:
        doc = yaml.load(text, Loader=_StringTimesLoader)  # noqa: S506 - a SafeLoader subclass
        node = yaml.compose(text, Loader=_StringTimesLoader)
    except yaml.YAMLError as e:
        raise LoadError(f"malformed YAML: {e}", source=str(path)) from None
    if isinstance(doc, dict) and isinstance(doc.get("changes"), list):
        doc = doc["changes"]
        node = next(v for k, v in node.value if k.value == "changes")
    if doc is None:
        doc = []
    if not isinstance(doc, list):
        raise LoadError(f"expected a YAML list of changes (or `changes:` holding one), got a {type(doc).__name__}.", source=str(path))
    lines = [item.start_mark.line + 1 for item in node.value] if doc else []
    good = [(ln, r) for ln, r in zip(lines, doc) if isinstance(r, dict)]
    bad = [(ln, r) for ln, r in zip(lines, doc) if not isinstance(r, dict)]
    col.reject([ln for ln, _ in bad], [f"not a mapping: a change must be `key: value` pairs, got {type(r).__name__}" for _, r in bad],
               [json.dumps(r, default=str) for _, r in bad])
    if good:
        records: list[dict[str, Any]] = [r for _, r in good]
        df = pd.DataFrame.from_records(records)
        col.add(df, np.array([ln for ln, _ in good], dtype=np.int64), raw_text=[json.dumps(r, default=str, ensure_ascii=False) for r in records])
