"""`clvchurn retrain`: a challenger pair by the refit recipe, judged against the champion on a window neither learned.

**The window.** A model learned the labels of every window that closed before its data end: the
champion (the served refit) up to `learned_until` = its `trained_through` + horizon, and a challenger
refitted on data up to D up to D itself, so no closed window is left that the registered challenger
has not seen. The challenger is therefore judged by its recipe: the backtest `fit_pair` runs anyway,
the same recipe fitted on everything before V = D - horizon (fit and calibration cutoffs, and every
label window, end before V), scored on the latest closed window [V, D). The champion is scored on
the very same rows (its own `predict_frame` on the same features) when it learned nothing of that
window, `learned_until` <= V. Both were fitted on data before V and are judged on what the same
customers did in [V, V + horizon); what is registered is the recipe refitted through D, as the
champion was refitted through its own data end. (The alternative, holding the last window out of
the registered refit, would serve a model a horizon older than the data.)

When the champion learned into the window (its data end less than a horizon before D) but was
backtested on the same cutoff V (a retrain on the same data after a change of code or settings), the
two backtests are compared: both recipes fitted before V, judged on the same rows. Otherwise a model
is not comparable, the gate cannot pass, and the comparison says from which data end it will be
(`learned_until` + horizon): for the 365-day value model that is a year after the champion's data end.

**The gate** (`PromotionGate`, settings `CLVCHURN_MONITOR_RETRAIN_*`): churn ROC-AUC not worse than
the champion's by more than `max_roc_auc_drop`, churn calibration error at most `max_ece`, value
Gini not worse by more than `max_gini_drop`, all on the window. The other models are compared and
reported, not gated.

**The registry.** The challenger is registered as a new version of `clvchurn-pair` with alias
`challenger` and tags (fingerprint, the champion version it was compared with, decision, the
comparison as JSON, which the models page shows). With `promote_if_better` and a passed gate the
`champion` alias moves to it and `challenger` is removed: no challenger is waiting any more. The
running service follows the champion alias (`CLVCHURN_RELOAD_INTERVAL_S`, or POST /v1/admin/reload).

**Safe from cron.** `retrain_lock` holds an exclusive `flock` on a file while a run lasts; the kernel
releases it when the process ends, so a crashed run leaves no stale lock. Runs are idempotent: the
fingerprint is a SHA-256 of the data folder's files, the training configuration, the playbook file,
the gate and the clvchurn version. A champion with the same fingerprint means nothing changed (kept,
nothing trained); a challenger with it, compared with the current champion, has its stored
comparison reused: promoted now if asked and it passed, kept otherwise, nothing trained.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
from mlflow.exceptions import MlflowException

from domain.errors import ModelNotRegisteredError, RetrainLockedError, RetrainRegistryError
from domain.vocabulary import MODEL_NAMES, ModelName
from features.contract import RawData
from model_contract import (
    CHALLENGER,
    CHAMPION,
    PAIR_MODEL_NAME,
    AliasedVersion,
    LoadedPair,
    aliased_version,
    client_for,
    ensure_experiment,
    load_pair,
    resolve_tracking_uri,
    set_alias,
    tracking_to,
)
from policy.playbook import Playbook
from training import train as training_run
from training.backtest import Backtest, finite
from training.metrics import probability_metrics, value_metrics
from training.promotion import DECIDED_BEFORE_REGISTRATION, PromotionDecision
from training.train import TrainingConfig, TrainingOutcome, fit_pair

logger = logging.getLogger(__name__)

TAG_PREFIX: Final = "clvchurn.retrain."
FINGERPRINT_TAG: Final = f"{TAG_PREFIX}fingerprint"
COMPARED_WITH_TAG: Final = f"{TAG_PREFIX}compared_with"
DECISION_TAG: Final = f"{TAG_PREFIX}decision"
COMPARISON_TAG: Final = f"{TAG_PREFIX}comparison"
PROMOTED: Final = "promoted"
KEPT: Final = "kept"
NO_CHAMPION: Final = "none"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PromotionGate:
    """How much worse than the champion the challenger may be on the window (see the module docstring)."""

    max_roc_auc_drop: float = 0.005
    max_ece: float = 0.02
    max_gini_drop: float = 0.005


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retrain did: the comparison (JSON-ready), whether the champion moved, which version was
    registered or reused, and whether anything was trained."""

    comparison: dict[str, Any]
    promoted: bool
    version: str | None
    trained: bool


def _quiet(_: str) -> None:
    return None


@contextmanager
def retrain_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; another holder makes it raise at once.

    Raises
    ------
    RetrainLockedError
        Another process (or another block of this one) holds the lock; the message names its holder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RetrainLockedError(
            f"another `clvchurn retrain` holds the lock {path} ({holder}); runs never overlap, so this one "
            "stops. Wait for it to end (CLVCHURN_MONITOR_RETRAIN_LOCK_PATH sets the file)"
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now():%Y-%m-%d %H:%M:%S}\n")
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def retrain_fingerprint(
    data_dir: Path, config: TrainingConfig, playbook_path: Path, gate: PromotionGate
) -> str:
    """SHA-256 of everything a retrain depends on: the data folder's files (names and bytes), the
    configuration, the playbook file, the gate and the clvchurn version."""
    digest = hashlib.sha256()
    for path in sorted(_data_files(Path(data_dir))):
        digest.update(str(path.relative_to(data_dir)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    settings = {
        "config": dataclasses.asdict(config),
        "gate": dataclasses.asdict(gate),
        "playbook": hashlib.sha256(Path(playbook_path).read_bytes()).hexdigest(),
        "clvchurn": _package_version(),
    }
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def retrain(
    raw: RawData,
    config: TrainingConfig,
    *,
    data_dir: Path,
    playbook: Playbook,
    playbook_path: Path,
    gate: PromotionGate,
    promote_if_better: bool,
    tracking_uri: str | None = None,
    ground_truth: pl.DataFrame | None = None,
    progress: Progress = _quiet,
) -> RetrainOutcome:
    """Train, compare, gate and register a challenger pair (see the module docstring).

    Parameters
    ----------
    raw
        The data up to now, loaded from `data_dir` (whose files the fingerprint reads).
    promote_if_better
        Move the champion alias to the challenger when it passes the gate.

    Raises
    ------
    RetrainRegistryError
        The registry refused to register, tag or move an alias.
    """
    uri = resolve_tracking_uri(tracking_uri)
    fingerprint = retrain_fingerprint(data_dir, config, playbook_path, gate)
    try:
        champion = aliased_version(PAIR_MODEL_NAME, CHAMPION, uri)
        reused = _unchanged(champion, aliased_version(PAIR_MODEL_NAME, CHALLENGER, uri), fingerprint, uri)
        if reused is not None:
            return _reuse(reused, champion, promote_if_better, uri)
        progress("Training the challenger pair")
        outcome = fit_pair(raw, config, playbook=playbook, ground_truth=ground_truth, progress=progress)
        loaded = load_pair(CHAMPION, uri) if champion is not None else None
        comparison = compare_with_champion(loaded, outcome, gate)
        comparison.update(
            {
                "retrained_at": datetime.now().replace(microsecond=0).isoformat(),
                "data": str(data_dir),
                "data_end": outcome.pair.metadata.data_end.isoformat(),
                "fingerprint": fingerprint,
                "promote_if_better": promote_if_better,
            }
        )
        promoted = promote_if_better and comparison["gate"]["passed"]
        comparison["decision"] = PROMOTED if promoted else KEPT
        comparison["reason"] = _reason(comparison, promoted, promote_if_better)
        outcome.decision = PromotionDecision(
            DECIDED_BEFORE_REGISTRATION,
            CHAMPION if promoted else CHALLENGER,
            None if champion is None else champion.version,
            _compact(comparison),
            False,
            comparison["reason"],
        )
        progress("Registering the challenger pair")
        with tracking_to(uri) as used:
            outcome.tracking_uri = used
            outcome.experiment_id = ensure_experiment(used)
            training_run._log_and_register(outcome, config, str(data_dir), progress)
        assert outcome.decision is not None
        registered = outcome.decision.version
        comparison["challenger"]["version"] = registered
        comparison["challenger"]["run_id"] = outcome.parent_run_id
        comparison["exit_code"] = 0 if promoted else 3
        _record(registered, outcome.parent_run_id, comparison, champion, fingerprint, promoted, uri)
    except MlflowException as error:
        raise RetrainRegistryError(f"the MLflow registry at {uri} refused the retrain: {error}") from error
    logger.info("Retrain: %s v%s (%s)", comparison["decision"], registered, comparison["reason"])
    return RetrainOutcome(comparison, promoted, registered, trained=True)


def compare_with_champion(
    champion: LoadedPair | None, outcome: TrainingOutcome, gate: PromotionGate
) -> dict[str, Any]:
    """Every model of the champion and the challenger on the challenger's backtest window, and the gate.

    Returns
    -------
    dict
        ``{"champion": {...} | None, "challenger": {"data_end"}, "models": {name: {"window": {"as_of",
        "to", "customers"}, "comparable", "method", "reason", "champion": {metrics}, "challenger":
        {metrics}}}, "gate": {"checks": [...], "passed"}}``
    """
    models = {name: _compare_model(champion, outcome.models[name].backtest, name) for name in MODEL_NAMES}
    checks = _gate_checks(models, gate, champion is not None)
    return {
        "champion": None
        if champion is None
        else {
            "version": champion.version,
            "run_id": champion.run_id,
            "data_end": champion.pair.metadata.data_end.isoformat(),
        },
        "challenger": {"data_end": outcome.pair.metadata.data_end.isoformat()},
        "models": models,
        "gate": {"checks": checks, "passed": all(check["passed"] for check in checks)},
    }


def _compare_model(champion: LoadedPair | None, backtest: Backtest, name: ModelName) -> dict[str, Any]:
    window = backtest.validation_as_of
    horizon = backtest.schedule.horizon_days
    entry: dict[str, Any] = {
        "window": {
            "as_of": window.date().isoformat(),
            "to": (window + timedelta(days=horizon)).date().isoformat(),
            "horizon_days": horizon,
            "customers": backtest.validation.height,
        },
        "challenger": finite(backtest.metrics),
        "champion": {},
        "comparable": False,
        "method": None,
        "reason": "",
        "learned_until": None,
        "comparable_from": None,
    }
    if champion is None:
        entry["reason"] = "no champion to compare with"
        return entry
    try:
        bundle = champion.pair[name]
    except ModelNotRegisteredError:
        entry["reason"] = f"champion v{champion.version} has no {name} model"
        return entry
    metadata = bundle.metadata
    learned_until = metadata.trained_through + timedelta(days=metadata.horizon_days)
    entry["learned_until"] = learned_until.date().isoformat()
    missing = sorted(set(metadata.feature_names) - set(backtest.validation.columns))
    if metadata.horizon_days != horizon:
        entry["reason"] = (
            f"champion v{champion.version} predicts over {metadata.horizon_days} days, not {horizon}"
        )
    elif missing:
        entry["reason"] = f"champion v{champion.version} needs features no longer built: {missing}"
    elif learned_until <= window:
        predicted = bundle.predict_frame(backtest.validation)
        entry["champion"] = finite(_metrics(backtest, predicted))
        entry["comparable"], entry["method"] = True, "both scored on the window"
    elif metadata.backtest_as_of == window:
        entry["champion"] = dict(metadata.backtest_metrics)
        entry["comparable"], entry["method"] = True, "both backtests on the window"
    else:
        comparable_from = learned_until + timedelta(days=horizon)
        entry["comparable_from"] = comparable_from.date().isoformat()
        entry["reason"] = (
            f"champion v{champion.version} learned {name} labels up to {learned_until.date()}, after the window's "
            f"start {window.date()}; a closed window after them exists once the data reach {comparable_from.date()}"
        )
    return entry


def _metrics(backtest: Backtest, predicted: np.ndarray) -> dict[str, float]:
    if not backtest.spec.is_probability:
        return value_metrics(backtest.actual, predicted)
    labels = backtest.actual.astype(np.int64)
    return probability_metrics(labels, predicted) if len(np.unique(labels)) == 2 else {}


def _gate_checks(
    models: dict[ModelName, Any], gate: PromotionGate, has_champion: bool
) -> list[dict[str, Any]]:
    """The gate's three checks; a check on a model not comparable with the champion fails."""
    checks = []
    gated: tuple[tuple[ModelName, str, float], ...] = (
        ("churn", "roc_auc", gate.max_roc_auc_drop),
        ("value", "gini", gate.max_gini_drop),
    )
    for model, metric, tolerance in gated:
        entry = models[model]
        new, old = entry["challenger"].get(metric), entry["champion"].get(metric)
        rule = _Rule(model, metric, "drop", tolerance)
        if not has_champion:
            checks.append(rule.check(None, new, True, "no champion to compare with"))
        elif not entry["comparable"] or new is None or old is None:
            checks.append(rule.check(old, new, False, entry["reason"] or f"no {metric} on the window"))
        else:
            checks.append(rule.check(old, new, new >= old - tolerance, f"{new:.4f} against {old:.4f}"))
    ece, old_ece = models["churn"]["challenger"].get("ece"), models["churn"]["champion"].get("ece")
    rule = _Rule("churn", "ece", "max", gate.max_ece)
    if ece is None:
        checks.append(rule.check(old_ece, None, False, "no calibration error on the window"))
    else:
        checks.append(rule.check(old_ece, ece, ece <= gate.max_ece, f"{ece:.4f}"))
    return checks


@dataclass(frozen=True)
class _Rule:
    """One check of the gate: `drop` (not worse than the champion by more than `limit`) or `max`."""

    model: str
    metric: str
    kind: str
    limit: float

    def check(
        self, champion: float | None, challenger: float | None, passed: bool, detail: str
    ) -> dict[str, Any]:
        rule = (
            f"not worse than the champion by more than {self.limit}"
            if self.kind == "drop"
            else f"at most {self.limit}"
        )
        return {
            "model": self.model,
            "metric": self.metric,
            "kind": self.kind,
            "limit": self.limit,
            "rule": rule,
            "champion": champion,
            "challenger": challenger,
            "passed": bool(passed),
            "detail": detail,
        }


def _reason(comparison: dict[str, Any], promoted: bool, asked: bool) -> str:
    failed = [check for check in comparison["gate"]["checks"] if not check["passed"]]
    if promoted:
        return "the challenger passes the gate and becomes champion"
    if failed:
        return "the champion stays: " + "; ".join(
            f"{c['model']} {c['metric']}: {c['detail']}" for c in failed
        )
    if not asked:
        return "the challenger passes the gate; without --promote-if-better the champion stays"
    return "the champion stays"


def _compact(comparison: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The gated figures as `PromotionDecision.comparison` holds them: model -> new_/champion_<metric>."""
    compact: dict[str, dict[str, float]] = {}
    for check in comparison["gate"]["checks"]:
        scores = compact.setdefault(check["model"], {})
        if check["challenger"] is not None:
            scores[f"new_{check['metric']}"] = float(check["challenger"])
        if check["champion"] is not None:
            scores[f"champion_{check['metric']}"] = float(check["champion"])
    return compact


def _unchanged(
    champion: AliasedVersion | None, challenger: AliasedVersion | None, fingerprint: str, uri: str
) -> tuple[AliasedVersion, dict[str, str]] | None:
    """The version whose retrain had this fingerprint (the champion first) and its tags, if any."""
    client = client_for(uri)
    for found in (champion, challenger):
        if found is None:
            continue
        tags = dict(client.get_model_version(PAIR_MODEL_NAME, found.version).tags)
        if tags.get(FINGERPRINT_TAG) != fingerprint:
            continue
        if found is champion:
            return found, tags
        if tags.get(COMPARED_WITH_TAG) == (NO_CHAMPION if champion is None else champion.version):
            return found, tags
    return None


def _reuse(
    reused: tuple[AliasedVersion, dict[str, str]],
    champion: AliasedVersion | None,
    promote_if_better: bool,
    uri: str,
) -> RetrainOutcome:
    found, tags = reused
    comparison: dict[str, Any] = json.loads(tags.get(COMPARISON_TAG, "{}")) or {
        "gate": {"checks": [], "passed": False}
    }
    comparison["promote_if_better"] = promote_if_better
    if champion is not None and found.version == champion.version:
        comparison["decision"] = KEPT
        comparison["reason"] = (
            f"nothing changed: champion v{found.version} was trained by a retrain on exactly these data and settings"
        )
        comparison["exit_code"] = 3
        return RetrainOutcome(comparison, False, found.version, trained=False)
    promoted = promote_if_better and bool(comparison.get("gate", {}).get("passed"))
    if promoted:
        set_alias(PAIR_MODEL_NAME, CHAMPION, found.version, uri)
        client_for(uri).delete_registered_model_alias(PAIR_MODEL_NAME, CHALLENGER)
        client_for(uri).set_model_version_tag(PAIR_MODEL_NAME, found.version, DECISION_TAG, PROMOTED)
    comparison["decision"] = PROMOTED if promoted else KEPT
    comparison["reason"] = (
        f"nothing changed since challenger v{found.version} was compared with the champion: "
        + (_reason(comparison, promoted, promote_if_better))
    )
    comparison["exit_code"] = 0 if promoted else 3
    if promoted:
        client_for(uri).set_model_version_tag(
            PAIR_MODEL_NAME, found.version, COMPARISON_TAG, json.dumps(comparison)
        )
    return RetrainOutcome(comparison, promoted, found.version, trained=False)


def _record(
    version: str,
    run_id: str,
    comparison: dict[str, Any],
    champion: AliasedVersion | None,
    fingerprint: str,
    promoted: bool,
    uri: str,
) -> None:
    """Tags on the registered version and the training run; aliases as decided."""
    client = client_for(uri)
    tags = {
        FINGERPRINT_TAG: fingerprint,
        COMPARED_WITH_TAG: NO_CHAMPION if champion is None else champion.version,
        DECISION_TAG: PROMOTED if promoted else KEPT,
        COMPARISON_TAG: json.dumps(comparison, allow_nan=False),
    }
    for key, value in tags.items():
        client.set_model_version_tag(PAIR_MODEL_NAME, version, key, value)
    if promoted:
        if aliased_version(PAIR_MODEL_NAME, CHALLENGER, uri) is not None:
            client.delete_registered_model_alias(PAIR_MODEL_NAME, CHALLENGER)
    else:
        set_alias(PAIR_MODEL_NAME, CHALLENGER, version, uri)
    client.set_tag(run_id, "clvchurn.kind", "retrain")
    client.set_tag(run_id, DECISION_TAG, tags[DECISION_TAG])
    client.log_dict(run_id, comparison, "retrain/comparison.json")
    for check in comparison["gate"]["checks"]:
        for side in ("champion", "challenger"):
            if check[side] is not None:
                client.log_metric(
                    run_id, f"retrain_{side}_{check['model']}_{check['metric']}", float(check[side])
                )
    client.log_metric(run_id, "retrain_gate_passed", float(comparison["gate"]["passed"]))


def _data_files(folder: Path) -> list[Path]:
    return [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and not path.name.endswith(".rejects.csv")
    ]


def _package_version() -> str:
    try:
        return version("clvchurn")
    except PackageNotFoundError:
        return "0+unknown"


__all__ = [
    "PromotionGate",
    "RetrainOutcome",
    "compare_with_champion",
    "retrain",
    "retrain_fingerprint",
    "retrain_lock",
]
