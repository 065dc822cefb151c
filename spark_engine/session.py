"""A Spark session built from `SparkSettings`, with defaults that suit clvchurn's jobs.

Defaults (each overridden by the same key in `settings.conf`):

- Arrow on with batches of 100,000 rows, the session clock in UTC (the contract's timestamps are naive UTC; Spark's
  `TimestampNTZType` carries them unchanged), the UI and the console progress bar as the settings say.
- One polars thread per Spark task core (`spark.executorEnv.POLARS_MAX_THREADS` = `spark.task.cpus`):
  Spark runs one Python worker per core, and polars would otherwise start a thread per machine core
  in each of them. The same for LightGBM's OpenMP threads when a worker scores (`OMP_NUM_THREADS`),
  which sleep rather than spin when idle (`OMP_WAIT_POLICY=PASSIVE`, as `clvchurn train` sets).
- On a local master only: shuffle partitions at twice the cores (Spark's 200 would make
  thousands of tiny tasks on a laptop), 4 GB of driver memory (the executors live in the driver's
  JVM), the checked rows cached uncompressed (compressing the cache costs about as much CPU as the
  check itself, and a single machine has the memory or the local disk to spare), local files written
  without Hadoop's `.crc` checksum files (so polars can read a written folder), the Python workers
  run by this interpreter, and a quiet log4j profile. On a cluster these are the cluster's business (spark-submit,
  spark-defaults.conf).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from domain.errors import SparkUnavailableError
from spark_engine.arrow import quiet_pandas_warning
from spark_engine.settings import BUCKETS_PER_PARTITION, SparkSettings, local_cores

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

LOG4J_PROFILE = Path(__file__).resolve().parent / "log4j2.properties"
LOCAL_DRIVER_MEMORY = "4g"
SHUFFLE_PARTITIONS_PER_CORE = 2
# Rows per Arrow batch between the JVM and the Python workers: Spark's 10,000 makes the per-batch
# costs (and the contract's per-call ones) show; 100,000 rows of the contract's tables are ~10 MB.
ARROW_BATCH_ROWS = 100_000
# Hadoop's default local file system writes a hidden `.crc` file beside every part file; polars (which
# reads the datasets `clvchurn serve` loads) refuses a folder with them in it, and nothing local needs them.
RAW_LOCAL_FILE_SYSTEM = "org.apache.hadoop.fs.RawLocalFileSystem"


def default_conf(settings: SparkSettings) -> dict[str, str]:
    """The Spark settings a session gets: clvchurn's defaults, then `settings.conf` over them."""
    conf = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": _flag(settings.ui),
        "spark.ui.showConsoleProgress": _flag(settings.show_progress),
    }
    cores = local_cores(settings.master)
    if cores is not None:
        conf |= {
            "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS_PER_CORE * cores),
            "spark.driver.memory": LOCAL_DRIVER_MEMORY,
            "spark.sql.inMemoryColumnarStorage.compressed": "false",
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J_PROFILE.as_uri()}",
            "spark.hadoop.fs.file.impl": RAW_LOCAL_FILE_SYSTEM,
        }
    conf |= settings.conf
    task_cores = conf.get("spark.task.cpus", "1")
    conf.setdefault("spark.executorEnv.POLARS_MAX_THREADS", task_cores)
    conf.setdefault("spark.executorEnv.OMP_NUM_THREADS", task_cores)
    conf.setdefault("spark.executorEnv.OMP_WAIT_POLICY", "PASSIVE")
    return conf


def create_session(settings: SparkSettings) -> SparkSession:
    """Start (or join) the Spark session the settings describe.

    Raises
    ------
    SparkUnavailableError: PySpark is not installed or its JVM does not start (no Java).
    """
    session_class = _session_class()
    with quiet_pandas_warning():
        # PySpark imports this module on its first Python-to-JVM value conversion, and the import
        # warns about pandas 3 (which clvchurn's Arrow-only code never uses): import it quietly first.
        import pyspark.testing.utils  # noqa: F401
    conf = default_conf(settings)
    if local_cores(settings.master) is not None:
        # PySpark starts its Python workers with $PYSPARK_PYTHON (else `python3` from PATH, which may
        # lack polars); locally they must be this interpreter. Clusters bring their own.
        os.environ.setdefault("PYSPARK_PYTHON", conf.get("spark.pyspark.python", sys.executable))
    builder = session_class.builder.master(settings.master).appName(settings.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j raises plain exceptions when the JVM cannot start
        raise SparkUnavailableError(
            f"Spark could not start on master '{settings.master}': {exc}. Check that Java 17 is "
            "installed (make java) and that the master URL is reachable"
        ) from exc
    spark.sparkContext.setLogLevel(settings.log_level)
    logger.info(
        "Spark %s session on %s (default parallelism %d)",
        spark.version,
        settings.master,
        spark.sparkContext.defaultParallelism,
    )
    return spark


@contextmanager
def spark_session(settings: SparkSettings) -> Iterator[SparkSession]:
    """A session for the length of a command: stopped at the end unless it was already running
    (a notebook's, or a test's), which is joined and left as it was."""
    already_running = _session_class().getActiveSession() is not None
    spark = create_session(settings)
    try:
        yield spark
    finally:
        if not already_running:
            spark.stop()


def bucket_count(spark: SparkSession, settings: SparkSettings) -> int:
    """Hash buckets of customer ids: the setting, else a few per shuffle partition for balance."""
    if settings.buckets is not None:
        return settings.buckets
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    return BUCKETS_PER_PARTITION * partitions


def _session_class() -> type[SparkSession]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError(
            "--engine spark needs PySpark: install clvchurn with its spark extra (make install does)"
        ) from exc
    return SparkSession


def _flag(value: bool) -> str:
    return "true" if value else "false"
