"""The service's database: what must last and what every worker must share, behind one URL.

`CLVCHURN_DATABASE_URL` names it (SQLite file or PostgreSQL, see `connection`). What it holds:
the prediction log (`PredictionRecorder`, group commit before the response), web sessions
(`SessionStore`), the sign-in throttle (`SignInThrottle`), small shared values (`ServiceState`)
and, for issue 14, retention actions (the `actions` table). The schema is versioned by Alembic
(`upgrade`, `clvchurn db upgrade`).

Import from here; the modules behind are private to the package.
"""

from serving.database.connection import is_reachable, open_database, parse_database_url, safe_url
from serving.database.migrate import head_revision, require_current_schema, upgrade
from serving.database.recorder import COLUMNS as PREDICTION_COLUMNS
from serving.database.recorder import PredictionRecorder, RecorderCounts
from serving.database.sessions import IssuedSession, SessionStore, WebSession, csrf_token_matches
from serving.database.state import WEB_SESSION_SECRET, ServiceState
from serving.database.tables import actions, metadata, predictions, service_state, sessions, sign_in_attempts
from serving.database.throttle import SignInThrottle

__all__ = [
    "PREDICTION_COLUMNS",
    "WEB_SESSION_SECRET",
    "IssuedSession",
    "PredictionRecorder",
    "RecorderCounts",
    "ServiceState",
    "SessionStore",
    "SignInThrottle",
    "WebSession",
    "actions",
    "csrf_token_matches",
    "head_revision",
    "is_reachable",
    "metadata",
    "open_database",
    "parse_database_url",
    "predictions",
    "require_current_schema",
    "safe_url",
    "service_state",
    "sessions",
    "sign_in_attempts",
    "upgrade",
]
