"""A clvchurn error raised inside a Spark task, raised again on the driver as itself.

Spark wraps whatever a Python worker raises in a `PythonException` whose text is the worker's
traceback. When that is one of clvchurn's own errors (a playbook that does not fit the model pair, a
model version saved by another clvchurn), the user should get its one-line message and its error
family (the CLI's exit code, the API's status), not a page of JVM and Python frames: `worker_errors`
finds the error's class in `domain.errors` by the name the traceback ends with and raises it with the
worker's message. Anything else goes through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from domain import errors

_RAISED = re.compile(r"^domain\.errors\.(\w+): (.*)$", re.MULTILINE)


@contextmanager
def worker_errors() -> Iterator[None]:
    """Around the Spark actions of a job: a clvchurn error from a worker comes out as itself."""
    from pyspark.errors import PythonException

    try:
        yield
    except PythonException as exc:
        error = error_from_traceback(str(exc))
        if error is None:
            raise
        raise error from exc


def error_from_traceback(text: str) -> errors.ClvchurnError | None:
    """The last clvchurn error a Python traceback's text names, rebuilt with its message; else None."""
    raised = _RAISED.findall(text)
    if not raised:
        return None
    name, message = raised[-1]
    error_class = getattr(errors, name, None)
    if not isinstance(error_class, type) or not issubclass(error_class, errors.ClvchurnError):
        return None
    return error_class(message)
