"""Spark settings, the session's default configuration and output paths: no JVM needed."""

from __future__ import annotations

import os

import pytest

from domain.errors import SparkSettingsError
from spark_engine import SparkSettings, default_conf, local_cores, parse_conf_pairs, rejects_uri

pytestmark = pytest.mark.spark


def test_conf_pairs_split_at_the_first_equals_sign_and_the_last_repeat_wins() -> None:
    pairs = [
        "spark.executor.memory=4g",
        " spark.driver.extraJavaOptions = -Da=b ",
        "spark.executor.memory=8g",
    ]
    assert parse_conf_pairs(pairs) == {
        "spark.executor.memory": "8g",
        "spark.driver.extraJavaOptions": "-Da=b",
    }


@pytest.mark.parametrize("pair", ["spark.executor.memory", "=4g", ""])
def test_a_conf_pair_without_key_or_equals_sign_names_the_option(pair: str) -> None:
    with pytest.raises(SparkSettingsError, match=rf"--spark-conf '{pair}' is not key=value"):
        parse_conf_pairs([pair])


@pytest.mark.parametrize(
    ("master", "cores"),
    [
        ("local", 1),
        ("local[3]", 3),
        ("local[2,4]", 2),
        ("local[*]", os.cpu_count()),
        ("spark://head:7077", None),
        ("yarn", None),
        ("k8s://https://api:6443", None),
    ],
)
def test_local_cores_of_a_master(master: str, cores: int | None) -> None:
    assert local_cores(master) == cores


def test_a_local_master_without_cores_is_an_error() -> None:
    with pytest.raises(SparkSettingsError, match=r"local\[0\]"):
        local_cores("local[0]")


def test_local_defaults_scale_shuffle_partitions_and_give_polars_one_thread_per_task() -> None:
    conf = default_conf(SparkSettings(master="local[3]", ui=False, show_progress=True))

    assert conf["spark.sql.shuffle.partitions"] == "6"
    assert conf["spark.executorEnv.POLARS_MAX_THREADS"] == "1"
    assert conf["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.ui.showConsoleProgress"] == "true"
    assert "log4j2.properties" in conf["spark.driver.extraJavaOptions"]


def test_user_settings_override_the_defaults_and_task_cores_set_polars_threads() -> None:
    settings = SparkSettings(
        master="local[2]", conf={"spark.sql.shuffle.partitions": "64", "spark.task.cpus": "2"}
    )
    conf = default_conf(settings)
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.executorEnv.POLARS_MAX_THREADS"] == "2"


def test_a_cluster_master_keeps_the_clusters_own_sizing() -> None:
    conf = default_conf(SparkSettings(master="yarn"))
    assert not {"spark.sql.shuffle.partitions", "spark.driver.memory", "spark.driver.extraJavaOptions"} & set(
        conf
    )


def test_settings_come_from_clvchurn_spark_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLVCHURN_SPARK_MASTER", "spark://head:7077")
    monkeypatch.setenv("CLVCHURN_SPARK_CONF", '{"spark.executor.memory": "6g"}')
    monkeypatch.setenv("CLVCHURN_SPARK_BUCKETS", "512")
    settings = SparkSettings()
    assert (settings.master, settings.conf, settings.buckets) == (
        "spark://head:7077",
        {"spark.executor.memory": "6g"},
        512,
    )


@pytest.mark.parametrize(
    ("out", "rejects"),
    [
        ("s3a://lake/crm/features.parquet", "s3a://lake/crm/features.rejects.parquet"),
        ("artifacts/features.parquet/", "artifacts/features.rejects.parquet"),
        ("features", "features.rejects.parquet"),
    ],
)
def test_rejects_go_beside_the_output(out: str, rejects: str) -> None:
    assert rejects_uri(out) == rejects
