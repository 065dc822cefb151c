"""Sign-in for people: an API key typed into a form, kept as a signed session cookie.

Browsers cannot send the X-API-Key header on a link, so the sign-in form takes the same key, checks it
with the service's `ApiKeyVerifier`, and Starlette's `SessionMiddleware` remembers the sign-in in a
cookie signed with itsdangerous (tamper-evident, expiring after `session_max_age_s`). The cookie
holds only a flag and the time of sign-in, never the key. Pages depend on `require_sign_in`, which
sends anyone without a session to /sign-in and back afterwards.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.middleware.sessions import SessionMiddleware

from domain.errors import SignInRequiredError
from serving.security import ApiKeyVerifier
from serving.web.settings import WebSettings

SESSION_COOKIE = "clvchurn_session"
SIGN_IN_PATH = "/sign-in"
HOME_PATH = "/portfolio"


def add_session_middleware(app: FastAPI, settings: WebSettings) -> None:
    """Sign session cookies with the configured secret, or a random one made for this app instance."""
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret or secrets.token_urlsafe(32),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.secure_cookies,
    )


def is_signed_in(request: Request) -> bool:
    return request.session.get("signed_in") is True


def sign_in(request: Request, presented: str, verifier: ApiKeyVerifier) -> bool:
    """Start a fresh session when `presented` is an accepted API key; False (and no session) otherwise."""
    request.session.clear()
    if not presented or not verifier.is_valid(presented):
        return False
    request.session.update({"signed_in": True, "since": int(time.time())})
    return True


def sign_out(request: Request) -> None:
    request.session.clear()


async def require_sign_in(request: Request) -> None:
    """Dependency of every page: raises `SignInRequiredError` (a redirect) without a session."""
    if not is_signed_in(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)


def local_path(target: str | None) -> str:
    """`target` when it is a path on this site, else the portfolio: never redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME_PATH
    return target


def redirect_to_sign_in(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"{SIGN_IN_PATH}?{urlencode({'next': local_path(next_path)})}", status_code=303)
