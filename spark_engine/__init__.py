"""clvchurn on Apache Spark: the raw-data contract, its checks and the feature tables, run on a cluster.

The same code as in process does the work (`features.contract.check_rows` per Arrow batch,
`features.build` per bucket of customers); this package only decides what runs where. PySpark is an
optional dependency (the `spark` extra): importing this package does not import it, starting a
session does.

What a caller may use is listed in `__all__`; the rest is private.
"""

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

__all__ = [
    "Computation",
    "SparkLoad",
    "SparkSettings",
    "WrittenDataset",
    "apply_per_bucket",
    "bucket_count",
    "create_session",
    "data_end_spark",
    "default_conf",
    "empty_raw",
    "feature_table",
    "features_at",
    "load_raw_spark",
    "local_cores",
    "long_frame",
    "parse_conf_pairs",
    "raw_from_arrow",
    "rejects_uri",
    "spark_session",
    "training_table",
    "write_dataset",
    "write_rejects_dataset",
]
