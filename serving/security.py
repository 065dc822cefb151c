"""API-key authentication for /v1: keys are kept and compared only as SHA-256 digests.

Keys come from `CLVCHURN_API_KEYS` (clear, comma-separated) and/or `CLVCHURN_API_KEY_FILE` (one
SHA-256 hex digest per line, so the file never holds a usable key). Admin endpoints take a separate
list, `CLVCHURN_ADMIN_API_KEYS`: a scoring key is known but not allowed there (403), which keeps
"who are you" (401) apart from "you may not" (403), as RFC 9110 §15.5.2 and §15.5.4 define them. A presented key is hashed and
compared with every known digest by `hmac.compare_digest`, which takes the same time wherever the
bytes differ (Python docs, hmac.compare_digest). Keys are never logged nor echoed in responses.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from pathlib import Path

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from domain.errors import ApiKeyFileError
from serving.settings import Settings

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
UNAUTHORIZED_DETAIL = f"Missing or invalid API key: send a valid key in the {API_KEY_HEADER} header."
ADMIN_UNAUTHORIZED_DETAIL = (
    f"Missing or invalid API key: send an admin key (CLVCHURN_ADMIN_API_KEYS) in the {API_KEY_HEADER} header."
)
FORBIDDEN_DETAIL = (
    "This key may score but not administer: admin endpoints need a key in CLVCHURN_ADMIN_API_KEYS."
)
WWW_AUTHENTICATE = f'APIKey realm="clvchurn", header="{API_KEY_HEADER}"'

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="A key listed in CLVCHURN_API_KEYS or the key file."
)


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest of `key`: the form the API key file stores."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_key_file(path: Path) -> list[bytes]:
    """Digests listed in `path`: one 64-character hex digest a line; blanks and '#' comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ApiKeyFileError(
            f"Cannot read the API key file {path} (CLVCHURN_API_KEY_FILE): {error.strerror}"
        ) from error
    digests = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip().lower()
        if not text:
            continue
        if len(text) != 64 or any(char not in "0123456789abcdef" for char in text):
            raise ApiKeyFileError(
                f"{path} line {number}: expected a SHA-256 hex digest (64 hex characters); "
                "store `serving.security.hash_api_key(key)`, never the key itself"
            )
        digests.append(bytes.fromhex(text))
    return digests


class ApiKeyVerifier:
    """Knows the digests of the accepted keys and checks presented keys against them."""

    def __init__(self, digests: Iterable[bytes]) -> None:
        self._digests = tuple(digests)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeyVerifier:
        digests = [bytes.fromhex(hash_api_key(key.get_secret_value())) for key in settings.api_keys]
        if settings.api_key_file is not None:
            digests += read_key_file(settings.api_key_file)
        if not digests:
            logger.warning(
                "No API keys configured: every /v1 request will be refused. "
                "Set CLVCHURN_API_KEYS or CLVCHURN_API_KEY_FILE."
            )
        return cls(digests)

    @classmethod
    def admin_from_settings(cls, settings: Settings) -> ApiKeyVerifier:
        """The verifier of admin keys (`CLVCHURN_ADMIN_API_KEYS`); empty, every admin call gets 401 or 403."""
        return cls(bytes.fromhex(hash_api_key(key.get_secret_value())) for key in settings.admin_api_keys)

    @property
    def key_count(self) -> int:
        return len(self._digests)

    @property
    def hex_digests(self) -> frozenset[str]:
        """The accepted keys' SHA-256 hex digests, as `hash_api_key` writes them and sessions store them."""
        return frozenset(digest.hex() for digest in self._digests)

    def is_valid(self, presented: str) -> bool:
        """Compare with every digest (no early exit), so timing does not tell which key nearly matched."""
        candidate = hashlib.sha256(presented.encode("utf-8")).digest()
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(candidate, digest)
        return matched


async def require_api_key(request: Request, presented: str | None = Security(api_key_header)) -> None:
    """FastAPI dependency guarding /v1: 401 unless the X-API-Key header holds an accepted key.

    Async on purpose: hashing one key takes microseconds, cheaper than a hop to the thread pool.
    """
    verifier: ApiKeyVerifier = request.app.state.api_keys
    if presented is None or not verifier.is_valid(presented):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=UNAUTHORIZED_DETAIL,
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )


async def require_admin_key(request: Request, presented: str | None = Security(api_key_header)) -> None:
    """FastAPI dependency guarding /v1/admin: 401 without a known key, 403 for a scoring key.

    Reads `request.app.state.admin_api_keys` (`ApiKeyVerifier.admin_from_settings`) and
    `request.app.state.api_keys` (to tell a scoring key, 403, from an unknown one, 401). Both
    verifiers compare every digest, so timing tells nothing either way.
    """
    admin: ApiKeyVerifier = request.app.state.admin_api_keys
    scoring: ApiKeyVerifier = request.app.state.api_keys
    if presented is not None and admin.is_valid(presented):
        return
    if presented is not None and scoring.is_valid(presented):
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=FORBIDDEN_DETAIL)
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=ADMIN_UNAUTHORIZED_DETAIL,
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )
