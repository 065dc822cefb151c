"""clvchurn on Apache Spark: the raw-data contract and its checks, feature and training tables, batch
scoring and a snapshot history's outcomes, run on a cluster.

The same code as in process does the work (`features.contract.check_rows` per Arrow batch,
`features.build` per bucket of customers, `serving.predictor.Predictor.score` per bucket with the
champion pair loaded once per Python worker); this package only decides what runs where. PySpark is an
optional dependency (the `spark` extra): importing this package does not import it, starting a
session does.

What a caller may use is listed in `__all__`; the rest is private.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from spark_engine.buckets import Computation, apply_per_bucket, empty_raw, long_frame, raw_from_arrow
from spark_engine.session import bucket_count, create_session, default_conf, spark_session
from spark_engine.settings import SparkSettings, local_cores, parse_conf_pairs
from spark_engine.tables import (
    WrittenDataset,
    data_end_spark,
    feature_table,
    features_at,
    rejects_uri,
    training_table,
    write_dataset,
)
from spark_engine.validation import SparkLoad, load_raw_spark, write_rejects_dataset
from spark_engine.worker_errors import error_from_traceback, worker_errors

if TYPE_CHECKING:
    from spark_engine.commands import SparkScoring, score_on_spark, settings_from_options, train_on_spark
    from spark_engine.history import OUTCOME_COLUMNS, PREDICTION_COLUMNS, read_history, realised_outcomes
    from spark_engine.scoring import (
        PairLoader,
        add_to_history,
        champion_loader,
        history_entry,
        score_bucket,
        snapshot_table,
        write_snapshot_dataset,
    )
    from spark_engine.training import SparkTableBuilder, allocate, baseline_history

# Scoring, training and monitoring import the model contract, serving and MLflow: they load on first
# use, so that a Python worker of a features job (which imports this package) does not pay for them.
_LAZY = {
    "spark_engine.commands": ("SparkScoring", "score_on_spark", "settings_from_options", "train_on_spark"),
    "spark_engine.history": ("OUTCOME_COLUMNS", "PREDICTION_COLUMNS", "read_history", "realised_outcomes"),
    "spark_engine.scoring": (
        "PairLoader",
        "add_to_history",
        "champion_loader",
        "history_entry",
        "score_bucket",
        "snapshot_table",
        "write_snapshot_dataset",
    ),
    "spark_engine.training": ("SparkTableBuilder", "allocate", "baseline_history"),
}
_LAZY_MODULE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY_MODULE.get(name)
    if module is None:
        raise AttributeError(f"module 'spark_engine' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "OUTCOME_COLUMNS",
    "PREDICTION_COLUMNS",
    "Computation",
    "PairLoader",
    "SparkLoad",
    "SparkScoring",
    "SparkSettings",
    "SparkTableBuilder",
    "WrittenDataset",
    "add_to_history",
    "allocate",
    "apply_per_bucket",
    "baseline_history",
    "bucket_count",
    "champion_loader",
    "create_session",
    "data_end_spark",
    "default_conf",
    "empty_raw",
    "error_from_traceback",
    "feature_table",
    "features_at",
    "history_entry",
    "load_raw_spark",
    "local_cores",
    "long_frame",
    "parse_conf_pairs",
    "raw_from_arrow",
    "read_history",
    "realised_outcomes",
    "rejects_uri",
    "score_bucket",
    "score_on_spark",
    "settings_from_options",
    "snapshot_table",
    "spark_session",
    "train_on_spark",
    "training_table",
    "worker_errors",
    "write_dataset",
    "write_rejects_dataset",
    "write_snapshot_dataset",
]
