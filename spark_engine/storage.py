"""Folders on any file system Spark's Hadoop configuration reaches: replace one whole, copy one, list one.

A Spark job writes a dataset as a folder of part files. Readers that poll a path (`clvchurn serve`
watches its snapshot) should never see half of one, so a job writes beside the target under a hidden
name (Hadoop and Spark skip names starting with `.`) and then swaps it in: the old folder is renamed
aside, the new one renamed into place, the old one deleted. A rename is atomic on HDFS and on local
disks; on object stores (s3a://) it is a copy, so a reader there may see the swap happen.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def hidden_sibling(uri: str, purpose: str) -> str:
    """A fresh hidden name in the folder of `uri`: where a job writes before `replace_folder`."""
    parent, _, name = uri.rstrip("/").rpartition("/")
    hidden = f".{name}.{purpose}-{uuid.uuid4().hex[:12]}"
    return f"{parent}/{hidden}" if parent else hidden


def exists(spark: SparkSession, uri: str) -> bool:
    """Whether a file or folder is at `uri`."""
    file_system, path = _file_system(spark, uri)
    return bool(file_system.exists(path(uri)))


def replace_folder(spark: SparkSession, written: str, target: str) -> None:
    """Move the folder `written` to `target`, replacing whatever file or folder is there."""
    file_system, path = _file_system(spark, target)
    new, old = path(written), path(target)
    aside = path(hidden_sibling(target, "old"))
    had_old = bool(file_system.exists(old))
    if had_old and not file_system.rename(old, aside):
        raise OSError(f"cannot move {target} aside to replace it")
    if not file_system.rename(new, old):
        if had_old:
            file_system.rename(aside, old)
        raise OSError(f"cannot move {written} to {target}")
    if had_old:
        file_system.delete(aside, True)
    logger.debug("replaced %s with %s", target, written)


def copy_folder(spark: SparkSession, source: str, target: str) -> None:
    """Copy the folder `source` to `target` (replacing it), file by file, without a Spark job."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    source_fs, path = _file_system(spark, source)
    target_fs, _ = _file_system(spark, target)
    staged = hidden_sibling(target, "copy")
    parent = path(target).getParent()
    if parent is not None:
        target_fs.mkdirs(parent)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    if not jvm.org.apache.hadoop.fs.FileUtil.copy(
        source_fs, path(source), target_fs, path(staged), False, conf
    ):
        raise OSError(f"cannot copy {source} to {target}")
    replace_folder(spark, staged, target)


def _file_system(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path_class = jvm.org.apache.hadoop.fs.Path
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return path_class(uri).getFileSystem(conf), path_class
