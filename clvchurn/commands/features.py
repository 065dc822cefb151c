"""`clvchurn features build`: the point-in-time feature table (and labels) for one or more cutoffs.

`--engine local` (the default) runs in this process; `--engine spark` runs the same feature code on
Apache Spark (`spark_engine`), reading the data from any path Spark can read and writing a Parquet
dataset (one folder per customer bucket) instead of a file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from clvchurn.commands.console import console
from clvchurn.commands.engine_options import ENGINE, SPARK_CONF, SPARK_MASTER, refuse_spark_options
from clvchurn.commands.loading import load_data_folder, parse_cutoff
from domain.errors import LabelWindowOpenError
from domain.vocabulary import Engine

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import Column

    from features.contract import FileCounts

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build(
    data: str = typer.Option(
        ..., "--data", help="Raw CRM data folder (with --engine spark: any path Spark reads, e.g. s3a://...)."
    ),
    as_of: str = typer.Option(..., "--as-of", help="Cutoff date: features use events strictly before it."),
    horizon_days: int | None = typer.Option(
        None,
        "--horizon-days",
        min=1,
        help="Also compute the labels (population, churned/reactivated/converted, future_value) over this window.",
    ),
    allow_open_labels: bool = typer.Option(
        False,
        "--allow-open-labels",
        help="Build labels whose window ends after the data anyway: warn and mark them (label_window_open).",
    ),
    snapshots: int = typer.Option(1, "--snapshots", min=1, help="Number of cutoffs to stack."),
    step_days: int = typer.Option(90, "--step-days", min=1, help="Days between stacked cutoffs."),
    out: str = typer.Option(
        ..., "--out", help="Parquet file to write (with --engine spark: a Parquet dataset folder)."
    ),
    engine: Engine = ENGINE,
    spark_master: str | None = SPARK_MASTER,
    spark_conf: list[str] = SPARK_CONF,
) -> None:
    """Build one row per customer (and cutoff) from events strictly before the cutoff.

    With `--horizon-days`, a label window that ends after the data would count customers as churned (or
    worth nothing) only because their future is not recorded yet: the command refuses it unless
    `--allow-open-labels`, which keeps those rows with `label_window_open` true.
    """
    from features.build import snapshot_dates
    from policy.playbook import Playbook
    from serving.settings import load_settings

    cutoffs = snapshot_dates(parse_cutoff(as_of), snapshots, step_days)
    labels = (
        None
        if horizon_days is None
        else LabelRequest(
            horizon_days,
            Playbook.load(load_settings().playbook_path).lifecycle.lookback_days,
            allow_open_labels,
        )
    )
    if engine == "spark":
        _build_on_spark(data, out, cutoffs, labels, spark_master, spark_conf)
    else:
        refuse_spark_options(spark_master, spark_conf)
        _build_in_process(Path(data), Path(out), cutoffs, labels)


@dataclass(frozen=True)
class LabelRequest:
    """What `--horizon-days` asks for: labels over that window, populations by the playbook's lookback."""

    horizon_days: int
    lookback_days: int
    allow_open: bool

    def open_windows(self, cutoffs: list[datetime], end: datetime | None) -> list[str]:
        """The cutoffs whose label window ends after the data; refused unless `allow_open`."""
        late = [
            c.date().isoformat()
            for c in cutoffs
            if end is None or c + timedelta(days=self.horizon_days) > end
        ]
        if late and not self.allow_open:
            raise LabelWindowOpenError(
                f"--horizon-days {self.horizon_days} from the cutoffs {', '.join(late)} ends after the data "
                f"({end.date() if end else 'no events'}): those labels are not known yet; choose an earlier "
                "--as-of or a shorter --horizon-days, or pass --allow-open-labels to keep them marked"
            )
        if late:
            console.print(
                f"[yellow]warning:[/] labels from {', '.join(late)} have open windows "
                "(label_window_open is true on those rows)"
            )
        return late


def _build_in_process(data: Path, out: Path, cutoffs: list[datetime], labels: LabelRequest | None) -> None:
    import polars as pl

    from features.build import build_features, build_training_table, data_end

    raw = load_data_folder(data, out.with_name(f"{out.stem}.rejects.csv"))
    started = time.perf_counter()
    open_windows = labels.open_windows(cutoffs, data_end(raw)) if labels is not None else []
    with console.status(f"Building features for {len(cutoffs)} cutoff(s)..."):
        if labels is not None:
            table = build_training_table(
                raw,
                cutoffs,
                churn_horizon_days=labels.horizon_days,
                value_horizon_days=labels.horizon_days,
                lookback_days=labels.lookback_days,
            ).with_columns(_open_label_column(open_windows))
        else:
            table = pl.concat([build_features(raw, cutoff) for cutoff in cutoffs], how="vertical")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out)
    console.print(
        f"Wrote {table.height:,} rows x {table.width} columns to {out} "
        f"in {time.perf_counter() - started:.1f} s (cutoffs: {_dates(cutoffs)})"
    )


def _open_label_column(open_windows: list[str]) -> pl.Expr:
    import polars as pl

    return pl.col("as_of").dt.date().cast(pl.String).is_in(open_windows).alias("label_window_open")


def _build_on_spark(
    data: str,
    out: str,
    cutoffs: list[datetime],
    labels: LabelRequest | None,
    spark_master: str | None,
    spark_conf: list[str],
) -> None:
    """Check, build and write on Spark; a summary line per step, Spark's progress bar in between."""
    from spark_engine import (
        SparkSettings,
        bucket_count,
        data_end_spark,
        feature_table,
        load_raw_spark,
        parse_conf_pairs,
        rejects_uri,
        spark_session,
        training_table,
        write_dataset,
        write_rejects_dataset,
    )

    settings = SparkSettings()
    update: dict[str, object] = {"conf": settings.conf | parse_conf_pairs(spark_conf)}
    if spark_master is not None:
        update["master"] = spark_master
    settings = settings.model_copy(update=update)
    started = time.perf_counter()
    console.print(f"Starting Spark on {settings.master}...")
    with spark_session(settings) as spark:
        console.print(
            f"Spark {spark.version} on {settings.master} ({spark.sparkContext.defaultParallelism} cores) "
            f"ready in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        load = load_raw_spark(spark, data)
        _print_counts(load.counts, data)
        rows = sum(c.accepted + c.rejected for c in load.counts.values())
        console.print(
            f"Checked {rows:,} rows in {len(load.counts)} files ({sum(load.partitions.values())} "
            f"partitions) in {time.perf_counter() - started:.1f} s"
        )
        written_rejects = write_rejects_dataset(load, rejects_uri(out))
        if written_rejects is not None:
            console.print(f"[yellow]{load.rejected:,} rejected rows with reasons in {written_rejects}[/]")
        buckets = bucket_count(spark, settings)
        if labels is not None:
            open_windows = labels.open_windows(cutoffs, data_end_spark(load))
            frame = training_table(
                load, cutoffs, labels.horizon_days, labels.horizon_days, labels.lookback_days, buckets
            ).withColumn("label_window_open", _open_label_column_spark(open_windows))
        else:
            frame = feature_table(load, cutoffs, buckets)
        written = write_dataset(spark, frame, out)
        load.release()
        console.print(
            f"Wrote {written.rows:,} rows x {len(frame.columns) - 1} columns in {written.files} files "
            f"({buckets} buckets) to {out} in {written.seconds:.1f} s (cutoffs: {_dates(cutoffs)})"
        )


def _open_label_column_spark(open_windows: list[str]) -> Column:
    from pyspark.sql import functions as F

    return F.date_format(F.col("as_of"), "yyyy-MM-dd").isin(open_windows)


def _print_counts(counts: dict[str, FileCounts], data: str) -> None:
    table = Table(title=f"Raw data in {data}")
    table.add_column("file")
    table.add_column("accepted", justify="right")
    table.add_column("rejected", justify="right")
    for file_counts in counts.values():
        table.add_row(file_counts.file, f"{file_counts.accepted:,}", f"{file_counts.rejected:,}")
    console.print(table)


def _dates(cutoffs: list[datetime]) -> str:
    return ", ".join(c.date().isoformat() for c in cutoffs)
