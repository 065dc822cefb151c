"""The seam between the HTTP service and the models: a protocol, and a holder that swaps engines whole.

The service never touches models directly. It asks a `PredictionEngine` (the real one lives in
`serving/predictor.py`) and keeps the current engine in an `EngineHolder` on `app.state`. A reload
builds the new engine completely before one reference assignment replaces the old one, so a request
that already took the old engine finishes with it and no request ever sees a half-loaded model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from domain.errors import ModelNotReadyError
from serving.schemas import ModelsInfo, ModelVersions, Prediction, PredictRequest

if TYPE_CHECKING:
    from serving.database.fleet import Fleet
    from serving.settings import Settings

logger = logging.getLogger(__name__)


class PredictionEngine(Protocol):
    """Scores customers with one fixed set of champion models."""

    @property
    def model_versions(self) -> ModelVersions:
        """Version of the loaded model pair, for responses, metrics and reloads."""
        ...

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[Prediction]:
        """One prediction per request, in order; explanation sentences in `lang` ("en" or "zh")."""
        ...

    def model_info(self) -> ModelsInfo:
        """What GET /v1/models shows: the pair's version and run, each model's training and backtest."""
        ...

    def is_stale(self) -> bool:
        """True when the registry's champion alias now names other versions than the loaded ones.

        Called every `reload_interval_s` seconds when that setting is on; it must be cheap (a registry
        lookup, not a model load).
        """
        ...


EngineLoader = Callable[["Settings"], PredictionEngine]


class EngineHolder:
    """The one reference to the engine in service; read it once per request with `get()`."""

    def __init__(self, on_swap: Callable[[PredictionEngine], None] | None = None) -> None:
        self._engine: PredictionEngine | None = None
        self._reload_lock = threading.Lock()
        self._on_swap = on_swap
        self.load_error: str | None = None

    @property
    def is_ready(self) -> bool:
        return self._engine is not None

    def get(self) -> PredictionEngine:
        engine = self._engine
        if engine is None:
            raise ModelNotReadyError(self.load_error or "The models are still loading; retry shortly.")
        return engine

    def swap(self, engine: PredictionEngine) -> PredictionEngine | None:
        """Put `engine` in service and return the one it replaces (which in-flight requests keep using)."""
        previous, self._engine = self._engine, engine
        self.load_error = None
        if self._on_swap is not None:
            self._on_swap(engine)
        logger.info("Engine in service: model pair %s", engine.model_versions.pair)
        return previous

    def reload(
        self, load: Callable[[], PredictionEngine]
    ) -> tuple[PredictionEngine | None, PredictionEngine]:
        """Load a new engine fully, then swap it in; concurrent reloads run one after the other.

        If `load` raises, the engine in service stays and the error propagates to the caller.
        """
        with self._reload_lock:
            try:
                engine = load()
            except Exception as error:
                if self._engine is None:
                    self.load_error = str(error)
                raise
            return self.swap(engine), engine


class StaleEngineWatcher:
    """Background thread that reloads the engine when the registry's champion alias moves."""

    def __init__(self, holder: EngineHolder, load: Callable[[], PredictionEngine], interval_s: float) -> None:
        self._holder = holder
        self._load = load
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clvchurn-engine-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check_once(self) -> bool:
        """Reload if the engine in service is stale; True when a new engine was swapped in."""
        if not self._holder.is_ready or not self._holder.get().is_stale():
            return False
        self._holder.reload(self._load)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.check_once()
            except Exception:
                logger.exception("Periodic champion check failed; keeping the engine in service")


class FleetFollower:
    """Background thread keeping this worker on the pair the last reload chose, whichever worker took it.

    Every `interval_s` it reads the reload target (`serving.database.Fleet`); when the target's token
    is new and the pair in service differs, it loads the champion and swaps it in (as a reload does:
    requests in flight finish on the old engine), then writes this worker's heartbeat. A worker still
    loading at start does not beat, so a reload does not wait for it; it loads the champion anyway.
    """

    def __init__(
        self,
        holder: EngineHolder,
        load: Callable[[], PredictionEngine],
        fleet: Fleet,
        worker: str,
        interval_s: float = 1.0,
    ) -> None:
        self._holder = holder
        self._load = load
        self._fleet = fleet
        self.worker = worker
        self._interval_s = interval_s
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clvchurn-fleet-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def acted_on(self, token: str) -> None:
        """Record that this worker already serves the target of `token` (it took the reload itself)."""
        with self._token_lock:
            self._token = token
        self.beat()

    def beat(self) -> None:
        if self._holder.is_ready:
            self._fleet.beat(self.worker, self._holder.get().model_versions.pair, self._token)

    def check_once(self) -> bool:
        """Follow the reload target if it moved, then beat; True when a new engine was swapped in."""
        if not self._holder.is_ready:
            return False
        swapped = False
        target = self._fleet.target()
        with self._token_lock:
            if target is not None and target.token != self._token:
                if self._holder.get().model_versions.pair != target.pair:
                    self._holder.reload(self._load)
                    swapped = True
                    logger.info("Following reload %s: serving pair %s", target.token[:8], target.pair)
                self._token = target.token
        self.beat()
        return swapped

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.check_once()
            except Exception as error:
                if not self._failing:
                    logger.warning(
                        "Cannot follow the fleet's reload target (%s); retrying every second", error
                    )
                self._failing = True
            else:
                self._failing = False
