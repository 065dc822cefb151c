"""Settings of the Spark engine: one pydantic-settings class, environment prefix `CLVCHURN_SPARK_`.

The CLI builds it from `--spark-master` and `--spark-conf key=value` (which override the environment),
tests build it with the UI and the progress bar off. Everything Spark itself understands goes through
`conf`, passed to the session unchanged, so any cluster setting (memory, executors, Hadoop's
`spark.hadoop.*` keys for s3a://) can be given without a new option here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import SparkSettingsError

_LOCAL_MASTER = re.compile(r"^local(?:\[(\*|\d+)(?:,\s*\d+)?\])?$")
BUCKETS_PER_PARTITION = 4


class SparkSettings(BaseSettings):
    """Where Spark runs and how; each field can be set as `CLVCHURN_SPARK_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CLVCHURN_SPARK_", extra="ignore")

    master: str = Field(
        default="local[*]",
        description="Spark master URL: local[*], local[N], spark://host:7077, yarn, k8s://...",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Spark settings passed through as they are (CLVCHURN_SPARK_CONF as a JSON object); "
        "they override clvchurn's defaults.",
    )
    app_name: str = "clvchurn"
    buckets: int | None = Field(
        default=None,
        ge=1,
        description="Hash buckets of customer ids, each one build_features call in one Python worker; "
        f"default {BUCKETS_PER_PARTITION} per shuffle partition.",
    )
    ui: bool = Field(default=True, description="Spark's web UI (off in tests: it takes a port).")
    show_progress: bool = Field(default=True, description="Spark's stage progress bar on the console.")
    log_level: str = Field(default="ERROR", description="Level of Spark's own (JVM) log.")


def parse_conf_pairs(pairs: Iterable[str], option: str = "--spark-conf") -> dict[str, str]:
    """`key=value` strings (a repeatable option) as a dict; the last value of a repeated key wins."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SparkSettingsError(
                f"{option} '{pair}' is not key=value; write it as, e.g., {option} spark.executor.memory=4g"
            )
        conf[key.strip()] = value.strip()
    return conf


def local_cores(master: str) -> int | None:
    """Cores of a local master (local, local[N], local[*], local[N,F]); None for a cluster master."""
    match = _LOCAL_MASTER.match(master.strip())
    if match is None:
        return None
    threads = match.group(1)
    if threads is None:
        return 1
    if threads == "*":
        return os.cpu_count() or 1
    if int(threads) < 1:
        raise SparkSettingsError(f"Spark master '{master}' asks for no cores; use local[1] or more")
    return int(threads)
