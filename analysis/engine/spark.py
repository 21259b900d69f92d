"""Apache Spark, past one machine: the engine's DuckDB SQL transpiled to Spark SQL with sqlglot.

Local mode (``local[*]``) stands in for a cluster in the tests; ``--spark-master`` points the same
queries at a cluster, and a table name reads a catalogue table where it lives.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import sqlglot

from analysis.engine.base import Engine
from analysis.engine.sources import Source, SourceError, resolve_source

__all__ = ["SparkEngine", "to_spark_sql", "spark_available"]

_EPOCH = re.compile(r"\bEPOCH_US\(", re.IGNORECASE)
_PCT = re.compile(r"\bPERCENTILE_CONT\(", re.IGNORECASE)


@lru_cache(maxsize=512)
def to_spark_sql(sql: str) -> str:
    """DuckDB SQL as Spark SQL: sqlglot, plus ``EPOCH_US`` -> ``UNIX_MICROS`` (left as is by sqlglot) and
    ``QUANTILE_CONT(x, q)`` -> ``PERCENTILE(x, q)`` (Spark's exact interpolated quantile)."""
    out = sqlglot.transpile(sql, read="duckdb", write="spark")
    return _PCT.sub("PERCENTILE(", _EPOCH.sub("UNIX_MICROS(", ";\n".join(out)))


def spark_available() -> tuple[bool, str]:
    """Whether a Spark session can start here (pyspark installed and Java on the PATH), and why not."""
    try:
        import pyspark  # noqa: F401  # optional (the [spark] extra): is it installed?
    except ImportError:
        return False, "pyspark is not installed (pip install 'llm-incident-forensics[spark]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return False, "Java is not installed (Spark needs Java 17+, e.g. Debian's openjdk-17-jre-headless)"
    return True, ""


def _kind(t: Any) -> str:
    from pyspark.sql import types as T  # pyspark is optional (the [spark] extra): imported only when Spark is used

    if isinstance(t, T.BooleanType):
        return "bool"
    if isinstance(t, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return "int"
    if isinstance(t, (T.FloatType, T.DoubleType, T.DecimalType)):
        return "float"
    if isinstance(t, (T.TimestampType, T.TimestampNTZType)):
        return "timestamp"
    if isinstance(t, T.StringType):
        return "string"
    if isinstance(t, T.ArrayType):
        return "list"
    return "other"


def session(master: str = "local[*]", *, app_name: str = "incident-forensics", driver_memory: str = "2g"):
    """A Spark session in UTC, with Arrow transfers and no UI."""
    from pyspark.sql import SparkSession  # pyspark is optional (the [spark] extra): imported only when Spark is used

    # pyspark 4.x warns on every Arrow transfer that pandas 3 is not fully supported; the engine
    # only moves small numeric and string tables, which convert fine
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    return (
        SparkSession.builder.master(master).appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(max(2 * (os.cpu_count() or 1), 4)))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.ansi.enabled", "false")
        # pandas writes nanosecond timestamps, which Spark cannot read as timestamps: read them as
        # longs and convert (SparkEngine._register)
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .getOrCreate()
    )


class SparkEngine(Engine):
    """The engine on a Spark session (local mode or a cluster).

    Parameters
    ----------
    events
        A path Spark reads (a Parquet file, folder or glob; Hive partitions are discovered), a
        catalogue table name, or an in-memory canonical table (written once to a temporary
        Parquet file for Spark to read).
    master
        Spark master URL (``local[*]``, ``spark://host:7077``, ``yarn``); ignored when ``spark`` is given.
    spark
        An existing SparkSession (under ``spark-submit``).
    """

    name = "spark"

    def __init__(self, events: Any, *, master: str = "local[*]", spark: Any = None, max_result_rows: int | None = None) -> None:
        super().__init__(max_result_rows=max_result_rows)
        ok, why = spark_available()
        if not ok and spark is None:
            raise RuntimeError(f"--engine spark: {why}")
        self.source = resolve_source(events, allow_table_name=True)
        self.spark = spark or session(master)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._kinds_cache: dict[str, str] | None = None
        df = self._read(self.source)
        self._register(df)

    def _read(self, src: Source):
        sp = self.spark
        if src.kind == "table":
            return sp.table(src.name)
        if src.kind == "arrow":
            self._tmp = tempfile.TemporaryDirectory(prefix="forensics-spark-")
            path = Path(self._tmp.name) / "events.parquet"
            pq.write_table(src.table, path)
            return sp.read.parquet(str(path))
        if src.kind != "parquet":
            raise SourceError(f"{src.label}: the Spark engine reads Parquet; run `python -m analysis convert` first")
        base = src.pattern
        if src.hive and "**" in base:
            return sp.read.option("recursiveFileLookup", "false").parquet(base.split("**")[0].rstrip("/"))
        if "**" in base:
            return sp.read.option("recursiveFileLookup", "true").parquet(base.split("**")[0].rstrip("/"))
        return sp.read.parquet(base)

    def _register(self, df) -> None:
        from pyspark.sql import functions as F  # pyspark is optional (the [spark] extra): imported only when Spark is used
        from pyspark.sql import types as T

        names = set(df.columns)
        if "ts" in names and isinstance(df.schema["ts"].dataType, T.LongType):  # nanoseconds (see session())
            df = df.withColumn("ts", F.expr("timestamp_micros(ts div 1000)"))
        if "retrieval_scores" in names:
            if "retrieval_top1_score" not in names:
                df = df.withColumn("retrieval_top1_score", F.element_at("retrieval_scores", 1).cast("double"))
            if "retrieval_mean_score" not in names:
                df = df.withColumn("retrieval_mean_score", F.expr(
                    "aggregate(retrieval_scores, CAST(0 AS DOUBLE), (a, x) -> a + x) / NULLIF(size(retrieval_scores), 0)"))
        self._df = df
        self._view = f"events_{id(self)}"
        df.createOrReplaceTempView(self._view)

    def _kinds(self) -> dict[str, str]:
        if self._kinds_cache is None:
            self._kinds_cache = {f.name: _kind(f.dataType) for f in self._df.schema.fields}
        return self._kinds_cache

    def _spark_sql(self, sql: str) -> str:
        return re.sub(r"\b(FROM|JOIN) events\b", rf"\1 {self._view}", to_spark_sql(sql))

    def _run(self, sql: str) -> pd.DataFrame:
        return self.spark.sql(self._spark_sql(sql)).toPandas()

    def _write(self, sql: str, path: Path) -> None:
        tmp = path.with_name(path.name + ".spark")
        shutil.rmtree(tmp, ignore_errors=True)
        self.spark.sql(self._spark_sql(sql)).coalesce(1).write.mode("overwrite").parquet(str(tmp))
        part = next(tmp.glob("part-*.parquet"))
        shutil.move(str(part), str(path))
        shutil.rmtree(tmp, ignore_errors=True)

    def ts_has_zone(self) -> bool:
        """Whether ``ts`` is an instant (Spark's TIMESTAMP), not a TIMESTAMP_NTZ; nanosecond files are instants."""
        from pyspark.sql import types as T  # pyspark is optional (the [spark] extra): imported only when Spark is used

        return not isinstance(self._df.schema["ts"].dataType, T.TimestampNTZType)

    def _materialize(self) -> None:
        """``events`` cached by Spark (memory, then disk) and counted once, so it is computed once."""
        from pyspark import StorageLevel  # pyspark is optional (the [spark] extra): imported only when Spark is used

        self._df = self._df.persist(StorageLevel.MEMORY_AND_DISK)
        self._df.count()
        self._df.createOrReplaceTempView(self._view)

    def _redefine(self, sql: str) -> None:
        df = self.spark.sql(self._spark_sql(sql))
        self._df = df
        self._views = getattr(self, "_views", 0) + 1
        self._view = f"events_{id(self)}_v{self._views}"
        df.createOrReplaceTempView(self._view)
        self._kinds_cache = None

    def close(self) -> None:
        try:
            self.spark.catalog.dropTempView(self._view)
        except Exception:  # noqa: BLE001 (the session may already be gone)
            pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
