"""Sign-in for people: an API key typed into a form, kept as a server-side session in the database.

Browsers cannot send the X-API-Key header on a link, so the sign-in form takes the same key and
checks it with the service's `ApiKeyVerifier`. The session lives in the database
(`serving.database.SessionStore`): the cookie holds only a random token, so signing out or removing
the key ends the session at once on every worker, and a sign-in made on one worker holds on all
with no shared secret to configure. A session whose key is no longer accepted is refused on every
request, not only at start-up.

Forms carry CSRF tokens (OWASP CSRF Prevention Cheat Sheet): the session's synchroniser token on the
forms of signed-in pages, and on the sign-in form, before any session exists, a double-submit token
(a random value in a cookie of its own, which the form must repeat). Cookies are HttpOnly,
SameSite=Lax and Secure, except when the service listens on a loopback address, where there is no
TLS to require; `CLVCHURN_WEB_SECURE_COOKIES=true` keeps them Secure even there (a local TLS proxy).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from domain.errors import SignInRequiredError
from serving.database import SessionStore, WebSession
from serving.security import ApiKeyVerifier

SESSION_COOKIE = "clvchurn_session"
SIGN_IN_CSRF_COOKIE = "clvchurn_sign_in_csrf"
CSRF_FIELD = "csrf_token"
SIGN_IN_PATH = "/sign-in"
HOME_PATH = "/portfolio"
_CACHED = "web_session"
_NOT_LOOKED_UP = object()


def is_loopback(host: str) -> bool:
    """Whether `host` (the address the service listens on) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def secure_cookies(host: str, forced: bool) -> bool:
    """Secure cookies unless serving on a loopback address (and not `forced`)."""
    return forced or not is_loopback(host)


def current_session(request: Request) -> WebSession | None:
    """The request's live session, looked up once per request; None without one.

    A session is live when the store has it (not signed out, expired or idle) and its key is still
    among the accepted keys.

    Raises
    ------
    DatabaseUnavailableError
        The sessions cannot be read (the page answers 503).
    """
    cached = getattr(request.state, _CACHED, _NOT_LOOKED_UP)
    if cached is not _NOT_LOOKED_UP:
        return cached if isinstance(cached, WebSession) else None
    store: SessionStore = request.app.state.web.sessions
    verifier: ApiKeyVerifier = request.app.state.web.api_keys
    session = store.get(request.cookies.get(SESSION_COOKIE))
    if session is not None and session.key_digest not in verifier.hex_digests:
        session = None
    setattr(request.state, _CACHED, session)
    return session


def known_session(request: Request) -> WebSession | None:
    """The session `current_session` found for this request already, without a lookup."""
    found = getattr(request.state, _CACHED, None)
    return found if isinstance(found, WebSession) else None


def signed_in_manager(request: Request) -> str | None:
    """The account manager the signed-in key is mapped to (`CLVCHURN_ACCOUNT_MANAGER_KEYS`), for the
    portfolio's "my customers"; None when signed out or unmapped. Read from the session's key digest,
    so removing the mapping takes effect at once."""
    session = current_session(request)
    if session is None:
        return None
    return request.app.state.settings.account_manager_keys.get(session.key_digest)


def require_sign_in(request: Request) -> None:
    """Dependency of every page: raises `SignInRequiredError` (a redirect) without a live session.

    A plain function, run in the thread pool: it reads the database.
    """
    if current_session(request) is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)


def start_session(response: Response, token: str, max_age_s: int, secure: bool) -> None:
    """Set the session cookie on `response` and drop the sign-in form's CSRF cookie."""
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age_s, path="/", secure=secure, httponly=True, samesite="lax"
    )
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path=SIGN_IN_PATH, secure=secure, httponly=True)


def end_session(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")


def sign_in_csrf_token(request: Request) -> str:
    """The sign-in form's double-submit token: the one in its cookie, or a new one to set."""
    presented = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if presented and len(presented) <= 128:
        return presented
    return secrets.token_urlsafe(32)


def set_sign_in_csrf_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        SIGN_IN_CSRF_COOKIE, token, path=SIGN_IN_PATH, secure=secure, httponly=True, samesite="strict"
    )


def sign_in_csrf_matches(request: Request, presented: str | None) -> bool:
    """Whether the sign-in form repeated its cookie's token (compared in constant time)."""
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))


def client_address(request: Request) -> str:
    """The address sign-ins are throttled by (behind a proxy, uvicorn's forwarded address)."""
    return request.client.host if request.client is not None else "unknown"


def local_path(target: str | None) -> str:
    """`target` when it is a path on this site, else the portfolio: never redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME_PATH
    return target


def redirect_to_sign_in(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"{SIGN_IN_PATH}?{urlencode({'next': local_path(next_path)})}", status_code=303)
