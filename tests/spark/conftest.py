"""One local Spark session (local[2], no UI, no progress bar) for the whole test session.

Starting a JVM takes seconds, so every Spark test shares it; a test that changes a runtime setting
restores it (`spark_conf`). Without PySpark or Java the Spark tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from spark_engine import SparkSettings, create_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TEST_SETTINGS = SparkSettings(
    master="local[2]", ui=False, show_progress=False, conf={"spark.sql.shuffle.partitions": "4"}
)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    pytest.importorskip("pyspark", reason="the spark extra is not installed (make install installs it)")
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        pytest.skip("Java is not installed (make java installs Debian's openjdk-17-jre-headless)")
    session = create_session(TEST_SETTINGS)
    yield session
    session.stop()


@pytest.fixture
def spark_conf(spark: SparkSession) -> Callable[..., object]:
    """A context manager that sets runtime Spark settings and puts the previous values back."""

    @contextmanager
    def setting(keys: dict[str, str]) -> Iterator[None]:
        before = {key: spark.conf.get(key, None) for key in keys}
        for key, value in keys.items():
            spark.conf.set(key, value)
        try:
            yield
        finally:
            for key, value in before.items():
                if value is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, value)

    return setting


SCORED_CUSTOMERS = 600


@pytest.fixture(scope="session")
def scoring_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic base of a few thousand customers the session's trained pair has never seen, as the
    contract's Parquet files (and its ground truth) in one folder."""
    from features.synth import generate, write_synthetic

    folder = tmp_path_factory.mktemp("scoring_base")
    write_synthetic(generate(n_customers=SCORED_CUSTOMERS, seed=23), folder)
    return folder
