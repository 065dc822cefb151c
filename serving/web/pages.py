"""The account managers' pages: sign-in, portfolio, customer and models, rendered with Jinja2.

`install_web(app)` adds them to the service: the router, the server-side sessions and sign-in
throttle (both in the service's database, `app.state.database`), the static assets (CSS and a few
lines of JavaScript, served by the app itself: pages make no request to another host) and the
redirect to the sign-in form. Every page except the sign-in form needs a session; every POST form
carries a CSRF token; at most 10 failed sign-ins a minute per client address, then 429. Every page
carries a strict Content-Security-Policy and `Cache-Control: no-store`, since it shows customer data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from domain.errors import (
    ModelNotReadyError,
    MonitorReportError,
    SignInRequiredError,
    SignInThrottledError,
    SnapshotFormatError,
    SnapshotMissingError,
)
from domain.vocabulary import POPULATIONS
from model_contract import PROBABILITY_MODELS
from serving.database import SessionStore, SignInThrottle, csrf_token_matches
from serving.events import events_path_for
from serving.monitor_report import MonitorReportStore
from serving.routes.deps import EngineHolderDep, SnapshotsDep, TextsDep
from serving.security import ApiKeyVerifier, hash_api_key
from serving.serialise import prediction_from_record
from serving.snapshot_store import SnapshotStore
from serving.text import Texts
from serving.web.customer_view import action_view, reason_bars
from serving.web.language import HTML_LANG, PageText, page_language, remember_language
from serving.web.models_view import (
    ChallengerLookup,
    ComparisonLookup,
    challenger_card,
    comparison_view,
    mlflow_challenger_lookup,
    mlflow_comparison_lookup,
    pair_card,
)
from serving.web.monitoring_view import drift_labels, monitoring_view, movers_of
from serving.web.portfolio import RISKS, STAGES, TIERS, PortfolioIndex, PortfolioQuery
from serving.web.session import (
    HOME_PATH,
    SESSION_COOKIE,
    SIGN_IN_PATH,
    client_address,
    current_session,
    end_session,
    known_session,
    local_path,
    redirect_to_sign_in,
    require_sign_in,
    secure_cookies,
    set_sign_in_csrf_cookie,
    sign_in_csrf_matches,
    sign_in_csrf_token,
    signed_in_manager,
    start_session,
)
from serving.web.settings import WebSettings
from serving.web.timeline import EventsStore, timeline_marks

logger = logging.getLogger(__name__)

WEB_DIR: Final = Path(__file__).resolve().parent
TIMELINE_ROWS_SHOWN: Final = 25
SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)
SignedIn = Depends(require_sign_in)


@dataclass
class WebContext:
    """Everything the pages need, created once per app by `install_web`."""

    settings: WebSettings
    texts: Texts
    api_keys: ApiKeyVerifier
    templates: Jinja2Templates
    portfolio: PortfolioIndex
    events: EventsStore
    challenger_lookup: ChallengerLookup
    sessions: SessionStore
    throttle: SignInThrottle
    secure_cookies: bool
    monitor_reports: MonitorReportStore | None = None
    comparison_lookup: ComparisonLookup | None = None


def install_web(app: FastAPI, settings: WebSettings | None = None) -> WebContext:
    """Add the pages to `app`, whose state already holds settings, texts, snapshots, api_keys, engines
    and database."""
    settings = settings or WebSettings()
    snapshots: SnapshotStore = app.state.snapshots
    texts: Texts = app.state.texts
    lifetime = timedelta(seconds=settings.session_max_age_s)
    context = WebContext(
        settings=settings,
        texts=texts,
        api_keys=app.state.api_keys,
        templates=_templates(),
        portfolio=PortfolioIndex(snapshots, texts),
        events=EventsStore(events_path_for(snapshots.path)),
        challenger_lookup=mlflow_challenger_lookup(app.state.settings.mlflow_tracking_uri),
        sessions=SessionStore(
            app.state.database, lifetime=lifetime, idle_timeout=min(lifetime, timedelta(hours=1))
        ),
        throttle=SignInThrottle(app.state.database),
        secure_cookies=secure_cookies(app.state.settings.host, settings.secure_cookies),
        monitor_reports=MonitorReportStore(_monitor_report_path()),
        comparison_lookup=mlflow_comparison_lookup(app.state.settings.mlflow_tracking_uri),
    )
    app.state.web = context
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    async def to_sign_in(request: Request, error: Exception) -> Response:
        assert isinstance(error, SignInRequiredError)
        return redirect_to_sign_in(error.next_path)

    app.add_exception_handler(SignInRequiredError, to_sign_in)
    app.include_router(router)
    return context


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse(HOME_PATH, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(local_path(next), status_code=status.HTTP_303_SEE_OTHER)
    return _sign_in_page(request, local_path(next), failed=False)


@router.post("/sign-in")
def sign_in_submit(
    request: Request,
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME_PATH,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    web = _web(request)
    if not sign_in_csrf_matches(request, csrf_token):
        logger.info("Web sign-in refused: CSRF token missing or wrong")
        return _forbidden(request)
    try:
        attempt = web.throttle.admit(client_address(request))
    except SignInThrottledError as error:
        logger.warning("Web sign-in throttled: %s", error)
        context = {"message": _page_text(request)("sign_in.failed"), "detail": str(error)}
        response = _render(request, "message.html", context, status.HTTP_429_TOO_MANY_REQUESTS)
        response.headers["Retry-After"] = str(error.retry_after_s)
        return response
    if not api_key or not web.api_keys.is_valid(api_key):
        logger.info("Web sign-in refused: invalid API key")
        return _sign_in_page(request, local_path(next), failed=True)
    web.throttle.succeeded(attempt)
    issued = web.sessions.create(hash_api_key(api_key))
    logger.info("Web sign-in accepted")
    response = RedirectResponse(local_path(next), status_code=status.HTTP_303_SEE_OTHER)
    start_session(response, issued.token, web.settings.session_max_age_s, web.secure_cookies)
    return response


@router.post("/sign-out")
def sign_out_submit(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    web = _web(request)
    session = current_session(request)
    if session is not None:
        if not csrf_token_matches(session, csrf_token):
            logger.info("Web sign-out refused: CSRF token missing or wrong")
            return _forbidden(request)
        web.sessions.revoke(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(SIGN_IN_PATH, status_code=status.HTTP_303_SEE_OTHER)
    end_session(response, web.secure_cookies)
    return response


@router.get("/portfolio", dependencies=[SignedIn])
def portfolio_page(request: Request) -> Response:
    web = _web(request)
    try:
        owners = web.portfolio.owners()
        manager = signed_in_manager(request)
        query = PortfolioQuery.from_params(
            dict(request.query_params), web.settings.page_size, owners, manager
        )
        page = web.portfolio.page(query, page_language(request))
    except (SnapshotMissingError, SnapshotFormatError) as error:
        return _no_snapshot(request, error)
    context = {
        "query": query,
        "page": page,
        "populations": POPULATIONS,
        "tiers": TIERS,
        "stages": STAGES,
        "risks": RISKS,
        "owners": owners,
        "signed_in_manager": manager,
        "active": "portfolio",
        "page_url": lambda **changes: "/portfolio?" + urlencode(query.as_params(**changes)),
    }
    return _render(request, "portfolio.html", context)


@router.get("/customers/{customer_id}", dependencies=[SignedIn])
def customer_page(request: Request, customer_id: str, store: SnapshotsDep, texts: TextsDep) -> Response:
    web = _web(request)
    text = _page_text(request)
    try:
        record = store.record(customer_id)
    except (SnapshotMissingError, SnapshotFormatError) as error:
        return _no_snapshot(request, error)
    if record is None:
        message = text("customer.not_found", customer_id=customer_id)
        return _render(request, "message.html", {"message": message}, status.HTTP_404_NOT_FOUND)
    prediction = prediction_from_record(record, text.language, texts)
    probability_kind = PROBABILITY_MODELS[prediction.population]
    events = web.events.events(customer_id)
    context = {
        "p": prediction,
        "probability_kind": probability_kind,
        "probability": getattr(prediction, f"{probability_kind}_probability"),
        "probability_bars": reason_bars(getattr(prediction.explanations, probability_kind)),
        "value_bars": reason_bars(prediction.explanations.value),
        "action": action_view(prediction, text.catalogue),
        "events": events,
        "recent_events": list(reversed(events[-TIMELINE_ROWS_SHOWN:])),
        "marks": timeline_marks(events, prediction.as_of, text.event_kind),
        "active": "portfolio",
        "timeline_end": max(prediction.as_of, events[-1].timestamp) if events else None,
    }
    return _render(request, "customer.html", context)


@router.get("/models", dependencies=[SignedIn])
def models_page(request: Request, engines: EngineHolderDep) -> Response:
    web = _web(request)
    try:
        engine = engines.get()
    except ModelNotReadyError as error:
        context = {"message": _page_text(request)("models.not_ready"), "detail": str(error)}
        return _render(request, "message.html", context, status.HTTP_503_SERVICE_UNAVAILABLE)
    info = engine.model_info()
    ui_url = web.settings.mlflow_ui_url
    cards = [pair_card("champion", info, ui_url)]
    challenger = challenger_card(web.challenger_lookup, ui_url)
    if challenger is not None:
        cards.append(challenger)
    comparison = comparison_view(web.comparison_lookup, challenger.version if challenger else info.version)
    shown: dict[str, Any] = {"info": info, "cards": cards, "comparison": comparison, "active": "models"}
    return _render(request, "models.html", shown)


@router.get("/monitoring", dependencies=[SignedIn])
def monitoring_page(request: Request) -> Response:
    """The latest `clvchurn monitor` report: accuracy over time, calibration, drift and tier migration."""
    web = _web(request)
    language = page_language(request)
    context: dict[str, Any] = {"view": None, "detail": None, "active": "monitoring"}
    try:
        report = _monitor_report(web)
    except MonitorReportError as error:
        logger.warning("Monitoring page without a report: %s", error)
        context["detail"] = str(error)
        return _render(request, "monitoring.html", context, status.HTTP_503_SERVICE_UNAVAILABLE)
    if report is not None:
        context["view"] = monitoring_view(report, drift_labels(web.texts, language))
    return _render(request, "monitoring.html", context)


@router.get("/monitoring/moves", dependencies=[SignedIn])
def monitoring_moves_page(
    request: Request,
    origin: Annotated[str, Query(alias="from")] = "",
    target: Annotated[str, Query(alias="to")] = "",
) -> Response:
    """The customers who moved from tier `from` to tier `to` between the two latest snapshots."""
    text = _page_text(request)
    try:
        report = _monitor_report(_web(request))
    except MonitorReportError as error:
        context = {"message": text("monitoring.no_report"), "detail": str(error)}
        return _render(request, "message.html", context, status.HTTP_503_SERVICE_UNAVAILABLE)
    if origin not in TIERS or target not in TIERS:
        message = text("monitoring.moves.unknown", origin=origin or "–", target=target or "–")
        return _render(request, "message.html", {"message": message}, status.HTTP_404_NOT_FOUND)
    moves = None if report is None else report.get("migration")
    movers, total = movers_of(moves, origin, target)
    shown: dict[str, Any] = {
        "origin": origin,
        "target": target,
        "moves": moves,
        "movers": movers,
        "total": total,
        "active": "monitoring",
    }
    return _render(request, "monitoring_moves.html", shown)


def _monitor_report(web: WebContext) -> dict[str, Any] | None:
    return None if web.monitor_reports is None else web.monitor_reports.report()


def _monitor_report_path() -> Path:
    from monitoring.settings import load_monitoring_settings

    return load_monitoring_settings().report_path


@router.get("/actions", dependencies=[SignedIn])
def actions_page(request: Request) -> Response:
    """Each action against its control group and target, from the evaluation at
    CLVCHURN_ACTIONS_EVALUATION_PATH (`clvchurn evaluate actions --json`)."""
    from domain.errors import ActionEvaluationError
    from policy.action_settings import load_action_settings
    from policy.evaluation import read_evaluation
    from serving.web.actions_view import action_views

    web = _web(request)
    catalogue = web.texts.catalogues[page_language(request)]

    def loop_text(key: str, **params: Any) -> str:
        return catalogue.text(f"loop.{key}", **params)

    path = load_action_settings().evaluation_path
    if not path.exists():
        context = {
            "message": loop_text("page.missing"),
            "detail": str(path),
            "active": "actions",
            "lt": loop_text,
        }
        return _render(request, "message.html", context, status.HTTP_404_NOT_FOUND)
    try:
        evaluation = read_evaluation(path)
    except ActionEvaluationError as error:
        context = {
            "message": loop_text("page.invalid"),
            "detail": str(error),
            "active": "actions",
            "lt": loop_text,
        }
        return _render(request, "message.html", context, status.HTTP_503_SERVICE_UNAVAILABLE)

    def action_title(action_id: str) -> str:
        if web.texts.playbook.action(action_id) is None:
            return action_id
        return web.texts.actions.text(action_id, catalogue.language).title

    context = {
        "evaluation": evaluation,
        "views": action_views(evaluation),
        "lt": loop_text,
        "action_title": action_title,
        "active": "actions",
    }
    return _render(request, "actions.html", context)


def _web(request: Request) -> WebContext:
    web: WebContext = request.app.state.web
    return web


def _page_text(request: Request) -> PageText:
    return PageText(_web(request).texts.catalogues[page_language(request)])


def _sign_in_page(request: Request, next_path: str, failed: bool) -> Response:
    token = sign_in_csrf_token(request)
    status_code = status.HTTP_401_UNAUTHORIZED if failed else status.HTTP_200_OK
    response = _render(
        request, "sign_in.html", {"next": next_path, "failed": failed, "csrf_token": token}, status_code
    )
    set_sign_in_csrf_cookie(response, token, _web(request).secure_cookies)
    return response


def _forbidden(request: Request) -> Response:
    context = {
        "message": _page_text(request)("sign_in.failed"),
        "detail": "CSRF token missing or wrong; reload the page.",
    }
    return _render(request, "message.html", context, status.HTTP_403_FORBIDDEN)


def _no_snapshot(request: Request, error: Exception) -> Response:
    logger.warning("Pages without a snapshot: %s", error)
    context = {"message": _page_text(request)("snapshot.missing"), "detail": str(error)}
    return _render(request, "message.html", context, status.HTTP_503_SERVICE_UNAVAILABLE)


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    text = _page_text(request)
    session = known_session(request)
    full = {
        "t": text,
        "lang": text.language,
        "html_lang": HTML_LANG[text.language],
        "signed_in": session is not None,
        "csrf_token": session.csrf_token if session is not None else None,
        "language_url": lambda lang: _with_query(request, lang=lang),
        **context,
    }
    response = _web(request).templates.TemplateResponse(request, template, full, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    remember_language(request, response)
    return response


def _with_query(request: Request, **changes: str) -> str:
    params = {**dict(request.query_params), **changes}
    return f"{request.url.path}?{urlencode(params)}"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    templates.env.filters.update(money=format_money, percent=format_percent, day=format_day)
    return templates


def format_money(amount: float | None, currency: str | None = None) -> str:
    """1234.5 -> "1,234.50 EUR"; the currency code follows, as in both English and Chinese reports."""
    if amount is None:
        return "–"
    return f"{amount:,.2f}" + (f" {currency}" if currency else "")


def format_percent(probability: float | None) -> str:
    return "–" if probability is None else f"{probability * 100:.1f}%"


def format_day(moment: date | datetime | None) -> str:
    return "–" if moment is None else f"{moment:%Y-%m-%d}"
