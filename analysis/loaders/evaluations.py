"""Offline evaluation histories: CSV, JSON Lines, JSON or Parquet -> the ``evaluations`` table.

One row per evaluation run (e.g. the weekly 50-question citation evaluation), with ``ts`` (when
it ran) and ``passed`` (whether it met its bar). ``analysis.investigate(..., evaluations=...)``
replays the history as the ``weekly_evaluation`` monitor: every failed run is an alarm.
"""

from __future__ import annotations

from pathlib import Path

from ..schema import EVALUATIONS
from .canonical import Collector, read_canonical
from .mapping import MappingState, load_mapping
from .result import DEFAULT_CHUNKSIZE, LoadError, LoadResult, check_path

__all__ = ["load_evaluations", "EVALUATION_FORMATS"]

#: Formats of an evaluation history.
EVALUATION_FORMATS = ("csv", "jsonl", "json", "parquet")

_EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "json", "parquet": "parquet", "pq": "parquet"}


def _detect(path: Path) -> str:
    """The format from the extension, else from the first bytes (``PAR1``, ``[``, ``{``, else CSV)."""
    if path.is_dir():
        raise LoadError("is a directory; an evaluation history is one CSV, JSONL, JSON or Parquet file.", source=str(path))
    ext = path.suffix.lower().lstrip(".")
    if ext in ("yaml", "yml"):
        raise LoadError("YAML is read only for change logs; an evaluation history is CSV, JSONL, JSON or Parquet.", source=str(path))
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:4] == b"PAR1":
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl"
    return "csv"


def load_evaluations(path: str | Path, *, assume_tz: str | None = None) -> LoadResult:
    """Load an offline evaluation history into the canonical ``evaluations`` table.

    Parameters
    ----------
    path
        A CSV, JSON Lines, JSON (array of objects) or Parquet file, one row per evaluation run.
        The format comes from the extension, else from the first bytes.
    assume_tz
        The zone of timestamps written without an offset (e.g. ``"UTC"``); ``None`` makes them
        an error.

    Returns
    -------
    LoadResult
        ``frame`` has the columns of :data:`analysis.schema.EVALUATIONS` -- ``ts``
        (``datetime64[ns, UTC]``) and ``passed`` (nullable ``boolean``) required; ``eval_id``,
        ``suite``, ``n_questions``, ``n_correct``, ``citation_accuracy``, ``threshold`` typed when
        present (missing otherwise) -- plus every other column of the file as it was read.
        ``rows_read == rows_loaded + len(rejected)``.

    Raises
    ------
    SchemaError
        A missing ``ts`` or ``passed`` column (naming it, the file and the columns found),
        timestamps without an offset and no ``assume_tz``, an empty, unreadable or headerless
        file, or one with no rows (:class:`~analysis.loaders.LoadError`). Bad rows are never
        raised: a value that cannot be parsed, a missing ``ts`` or ``passed`` value, or a
        repeated ``eval_id`` rejects the row, with the reason, into ``rejected``.
    """
    p = check_path(path)
    fmt = _detect(p)
    source = str(p)
    col = Collector(EVALUATIONS, source, assume_tz, MappingState(load_mapping(None, EVALUATIONS)))
    sha = read_canonical(p, fmt, col, DEFAULT_CHUNKSIZE)
    res = col.finish(fmt, sha)
    if res.rows_read == 0:
        raise LoadError("has no rows: no evaluation runs to replay.", source=source)
    if res.rows_loaded == 0:
        res.warnings.append("no evaluation run was loaded (all rows rejected): the weekly evaluation will be simulated")
    return res
