"""The options of the commands that also run on Apache Spark (`features build`, `train`, `score`,
`monitor`), defined once so that they read and behave the same in each."""

from __future__ import annotations

import typer

from domain.errors import CommandOptionError
from domain.vocabulary import DEFAULT_ENGINE

ENGINE = typer.Option(
    DEFAULT_ENGINE, "--engine", help="Run in this process (local) or on Apache Spark (spark)."
)
SPARK_MASTER = typer.Option(
    None,
    "--spark-master",
    help="Spark master URL (default: CLVCHURN_SPARK_MASTER, else local[*]); with --engine spark.",
)
SPARK_CONF = typer.Option(
    [], "--spark-conf", help="A Spark setting key=value, repeatable; with --engine spark."
)


def refuse_spark_options(spark_master: str | None, spark_conf: list[str], **others: object) -> None:
    """On the local engine, refuse Spark's options (and `others`, named by option, when given).

    Raises
    ------
    CommandOptionError
        One of them was given; the message names them all.
    """
    given = [name for name, value in others.items() if value is not None]
    if not given and spark_master is None and not spark_conf:
        return
    names = [*(f"--{name.replace('_', '-')}" for name in others), "--spark-master"]
    raise CommandOptionError(f"{', '.join(names)} and --spark-conf only apply with --engine spark")
