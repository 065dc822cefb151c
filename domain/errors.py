"""Every error clvchurn raises on purpose, in one tree rooted at `ClvchurnError`.

Each package has a family: the data contract (`DataError`), training (`TrainingError`), the model
contract (`ModelContractError`), the playbook (`PlaybookError`), the service (`ServingError`) and the
command line (`CommandOptionError`).
The CLI catches `ClvchurnError` once and prints its message as one line (exit code 2); the API maps
each family to a status code in one place (`serving.errors`). Messages name the file, row, field,
option or setting at fault and say how to fix it, so they can be shown to the user as they are.

Some classes also derive from the built-in exception a caller would naturally catch (`ValueError`
for bad values, `KeyError` for unknown names, `FileNotFoundError` for a missing file), so code that
handles those keeps working.
"""

from __future__ import annotations


class ClvchurnError(Exception):
    """Root of the tree: anything clvchurn raises on purpose, with a message meant for the user."""


# --- Data contract: raw CRM data, cutoffs, features and labels ------------------------------------


class DataError(ClvchurnError):
    """The data (files, records, cutoffs or feature names) break the raw-data contract."""


class DataContractError(DataError, ValueError):
    """A data folder or record set breaks the raw-data contract in a way no row-level reject can fix."""


class InvalidCutoffError(DataError, ValueError):
    """A cutoff cannot be compared with the naive timestamps of the raw-data contract."""


class UnknownFeatureError(DataError, KeyError):
    """A name is neither a defined feature nor a profile attribute."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class LabelWindowOpenError(DataError, ValueError):
    """A snapshot's label window ends after the data does, so its labels are not yet known."""


class SyntheticDataError(DataError, ValueError):
    """The generator was asked for something it cannot produce (empty base, reversed period)."""


# --- Training: schedules, splits, fitting, backtests ----------------------------------------------


class TrainingError(ClvchurnError):
    """A model cannot be trained or backtested honestly on the data and options given."""


class ScheduleError(TrainingError, ValueError):
    """The requested cutoffs do not fit in the data; the message says which option to change."""


class InsufficientSnapshotsError(TrainingError, ValueError):
    """Too few as_of snapshots to split training, calibration and validation by time."""


class LabelLeakError(TrainingError, ValueError):
    """A label or key column was asked for as a model feature."""


class CalibrationDataError(TrainingError, ValueError):
    """The calibration fold cannot calibrate: too few positives or negatives."""


class InsufficientBuyersError(TrainingError, ValueError):
    """Too few customers with positive spend to fit a value model."""


class MetricInputError(TrainingError, ValueError):
    """Arrays handed to a metric are empty, of different lengths, or outside the metric's domain."""


class BaselineInputError(TrainingError, ValueError):
    """The customer summary handed to a baseline breaks the model's assumptions."""


class ModelNotFittedError(TrainingError, RuntimeError):
    """A prediction was asked of a baseline before `fit` was called."""


class ModelFitError(TrainingError, RuntimeError):
    """Maximum likelihood did not converge to finite parameters."""


class ReferenceInputError(TrainingError, ValueError):
    """The tiers do not line up with the feature rows, or a named feature is missing."""


class HoldoutLeakError(TrainingError, ValueError):
    """Rows dated on or after the forecast start reached the forecasting step."""


class CdnowPopulationError(TrainingError, ValueError):
    """The forecast population differs from the customers who bought before the forecast start."""


class InsufficientDataError(TrainingError, ValueError):
    """The data fall short of a documented minimum (`training.data_check`) for a model to be trained
    and backtested honestly; the message gives the data check's advice."""


class TableBuilderError(TrainingError, RuntimeError):
    """A training-table builder (`training.tables.TableBuilder`, e.g. on Spark) left out a cutoff it was
    asked for."""


# --- Model contract: what a registered model is and how it runs -----------------------------------


class ModelContractError(ClvchurnError):
    """A registered model cannot be found, loaded or applied to the features at hand."""


class ModelNotRegisteredError(ModelContractError, LookupError):
    """No version of a registered model carries the requested alias."""


class FeatureMatrixError(ModelContractError, ValueError):
    """The table does not carry the features the model was trained on, or they have the wrong type."""


class TierError(ModelContractError, ValueError):
    """Tier cut-points cannot be fitted or applied as asked."""


# --- Playbook: the retention policy as data --------------------------------------------------------


class PlaybookError(ClvchurnError, ValueError):
    """A playbook file is unreadable or breaks a rule; the message names the rule and the field."""


# --- Serving: the service, its files and its texts ------------------------------------------------


class ServingError(ClvchurnError):
    """The service cannot answer as configured: models, snapshot, texts, keys or settings."""


class ModelNotReadyError(ServingError, RuntimeError):
    """No champion model can be served; the message says how to train or register one."""


class PredictionInputError(ServingError, ValueError):
    """A request passed schema validation but cannot be scored; the API answers 422 with the message."""


class SnapshotFormatError(ServingError, ValueError):
    """The snapshot file does not follow its format (missing columns, duplicated customers)."""


class SnapshotMissingError(ServingError, FileNotFoundError):
    """No snapshot has been written yet at the configured path."""


class EventsFormatError(ServingError, ValueError):
    """The events file lacks a column the timeline needs."""


class PredictionLogError(ServingError, RuntimeError):
    """The prediction log cannot be created or written."""


class ApiKeyFileError(ServingError, ValueError):
    """The API key file is missing or holds a line that is not a SHA-256 hex digest."""


class SettingsError(ServingError, ValueError):
    """A `CLVCHURN_*` setting holds a value the service cannot use."""


class CatalogueError(ServingError, ValueError):
    """A catalogue file is missing, is not YAML, or holds something other than text."""


class MissingTextError(ServingError, KeyError):
    """A catalogue has no text for a key, or a template lacks one of its parameters."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnsupportedLanguageError(ServingError, ValueError):
    """A caller asked for a language without a catalogue."""


class SignInRequiredError(ServingError):
    """A page was asked for without a valid session; the handler redirects to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(f"sign-in required for {next_path}")
        self.next_path = next_path


# --- Command line --------------------------------------------------------------------------------


class CommandOptionError(ClvchurnError, ValueError):
    """A command-line option holds a value the command cannot use; the message names the option."""


# --- Monitoring: drift, realised and estimated accuracy, tier migration ----------------------------


class MonitoringError(ClvchurnError):
    """Past scores, outcomes, reference distributions or settings cannot be compared as asked."""


class ReferenceDistributionError(MonitoringError, ValueError):
    """A reference distribution cannot be computed, or a stored one is malformed."""


class DriftInputError(MonitoringError, ValueError):
    """The frame to check lacks a column of the reference, or holds it with another kind of values."""


class OutcomeInputError(MonitoringError, ValueError):
    """Predictions and outcomes handed to realised or estimated performance do not line up."""


class MigrationInputError(MonitoringError, ValueError):
    """The snapshots handed to the migration lack a column or hold a customer twice."""


class MonitoringSettingsError(MonitoringError, ValueError):
    """A `CLVCHURN_MONITOR_*` setting holds a value monitoring cannot use."""


# --- Serving: the database (prediction log, sessions, sign-in throttle, service state) ------------


class DatabaseUrlError(SettingsError):
    """`CLVCHURN_DATABASE_URL` is not a URL of a database clvchurn supports (SQLite or PostgreSQL)."""


class DatabaseUnavailableError(ServingError, RuntimeError):
    """The database cannot be reached or written; the API answers 503 rather than go on without it."""


class SchemaMigrationError(ServingError, RuntimeError):
    """The database schema cannot be brought to, or is not at, the revision this code expects."""


class PredictionNotLoggedError(PredictionLogError):
    """Predictions could not be committed to the log, so they must not be served (the API answers 503)."""


class PredictionRowError(PredictionLogError, ValueError):
    """A prediction row handed to the log lacks a required field or carries one the table does not have."""


class SignInThrottledError(ServingError):
    """Too many failed sign-ins from one client address; the page answers 429 with Retry-After."""

    def __init__(self, client_address: str, retry_after_s: int) -> None:
        super().__init__(
            f"Too many failed sign-ins from {client_address}: try again in {retry_after_s} seconds"
        )
        self.client_address = client_address
        self.retry_after_s = retry_after_s


# --- Engines: where the batch jobs run (in process or on Spark) -----------------------------------


class EngineError(ClvchurnError):
    """A compute engine cannot start or run as configured (Spark master, settings, Java, PySpark)."""


class SparkSettingsError(EngineError, ValueError):
    """A Spark setting or option (`--spark-conf`, `CLVCHURN_SPARK_*`) holds a value that cannot be used."""


class SparkUnavailableError(EngineError, RuntimeError):
    """PySpark or Java is missing, so `--engine spark` cannot start; the message says what to install."""


# --- Training: the real-data retail benchmark (training.retail) -----------------------------------


class BenchmarkPopulationError(TrainingError, ValueError):
    """The benchmark's population or holdout cannot be scored: nobody in it, or one outcome only."""


class BenchmarkPredictionError(TrainingError, ValueError):
    """A benchmarked predictor's output lacks a column, a population customer or a valid value."""


# --- Closing the loop: monitoring past snapshots, and retraining against the champion -------------


class MonitoringInputError(MonitoringError, ValueError):
    """The history or the data cannot be monitored: no snapshot before the cutoff, no events, no report."""


class MonitorReportError(MonitoringError, ValueError):
    """A monitor report file is unreadable or not one `clvchurn monitor` wrote; write it again."""


class RetrainLockedError(TrainingError, RuntimeError):
    """Another `clvchurn retrain` holds the lock file; runs never overlap, so this one stops."""


class RetrainRegistryError(TrainingError, RuntimeError):
    """The registry refused an operation `clvchurn retrain` needs (registering, tagging, moving an alias)."""


class RetrainFailedError(TrainingError, RuntimeError):
    """`clvchurn retrain` stopped on an unexpected failure; cron sees exit code 2, not a traceback."""


# --- Actions and uplift: control groups, outcomes against targets, uplift models (issue 14) --------


class ActionEvaluationError(MonitoringError, ValueError):
    """Actions and outcomes cannot be evaluated as asked (no actions, a cutoff before every window
    closes, an evaluation file that is not one `clvchurn evaluate actions` wrote)."""


class UpliftTrainingError(TrainingError, ValueError):
    """An uplift model cannot be fitted honestly: too few closed outcomes in a group, one campaign date
    only for an out-of-time backtest, or features that differ from the model pair's."""


class ActionSettingsError(SettingsError):
    """A `CLVCHURN_ACTIONS_*` setting (control-group key, period, minimum outcomes) cannot be used."""


# --- CRM sync: exports and the webhook ----------------------------------------------------------


class ExportError(ServingError, ValueError):
    """`clvchurn export` cannot write what was asked: no snapshot of the `--changed-since` date in the
    history, an unknown format, or an output file that cannot be written."""


class WebhookSettingsError(SettingsError):
    """The webhook is configured without what it needs (CLVCHURN_WEBHOOK_URL without
    CLVCHURN_WEBHOOK_SECRET)."""


# --- Training (appended): the value range --------------------------------------------------------


class RangeCalibrationError(TrainingError, ValueError):
    """Too few calibration or fit rows to calibrate the value range at its level, or none to stop its
    quantile regressors early; the message says how many are needed."""
