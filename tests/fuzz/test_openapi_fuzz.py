"""schemathesis against the service's OpenAPI, pages included: no request it makes gets a 5xx.

The service runs on the session's trained pair with its base scored into the snapshot
(`support.trained.real_service`), so every answer comes from the real engine. The API's own schema is
extended with the pages (`serving.web.pages`, left out of /openapi.json) and the query parameters the
portfolio reads, so the sign-in form, sign-out and every page are fuzzed too. Each operation gets
`EXAMPLES` positive and `EXAMPLES` negative cases from a fixed seed; API calls carry a valid key and
page calls a signed-in session, so that cases reach the code behind authentication. Each server error
is collected (not raised) so the failure message lists all of them.

Cases are sent through one Starlette test client that holds the app's lifespan for the module
(schemathesis' own ASGI transport ends the lifespan after every test, and the app starts once).
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from support.forms import csrf_of
from support.trained import TrainedModels, busiest_customer, real_service

from serving.web import pages

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

API_KEY = "fuzz-key-5d20"
SEED = 20261201
EXAMPLES = 15
"""Cases per operation and generation mode (positive, negative): about 350 requests, under a minute."""
PORTFOLIO_QUERY = ("population", "tier", "stage", "risk", "owner", "q", "sort", "page")
OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/predict"),
    ("POST", "/v1/predict/batch"),
    ("GET", "/v1/customers/{customer_id}"),
    ("GET", "/v1/models"),
    ("POST", "/v1/admin/reload"),
    ("GET", "/"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/portfolio"),
    ("GET", "/customers/{customer_id}"),
    ("GET", "/models"),
    ("POST", "/v1/actions"),
    ("GET", "/actions"),
    ("GET", "/monitoring"),
    ("GET", "/monitoring/moves"),
    ("POST", "/sign-out"),  # last: with server-side sessions it ends the session the pages use
]


@dataclass
class Fuzzed:
    """The service under test, its extended schema, the page session cookie and what the runs found."""

    client: TestClient
    schema: Any
    session_cookies: dict[str, str]
    cases: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    server_errors: dict[str, list[str]] = field(default_factory=dict)


def schema_with_pages(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI plus the page routes, each page GET with `lang`, the portfolio with its filters."""
    spec = copy.deepcopy(app.openapi())
    routes = []
    for route in pages.router.routes:
        assert isinstance(route, APIRoute)
        shown = copy.copy(route)
        shown.include_in_schema = True
        routes.append(shown)
    page_spec = get_openapi(title="pages", version="0", openapi_version=app.openapi_version, routes=routes)
    for path, operations in page_spec["paths"].items():
        for method, operation in operations.items():
            if method == "get":
                names = ("lang", *(PORTFOLIO_QUERY if path == "/portfolio" else ()))
                operation.setdefault("parameters", []).extend(
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in names
                )
        spec["paths"].setdefault(path, {}).update(operations)
    spec.setdefault("components", {}).setdefault("schemas", {}).update(
        page_spec.get("components", {}).get("schemas", {})
    )
    return spec


@pytest.fixture(scope="module")
def fuzzed(trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    app = real_service(trained, tmp_path_factory.mktemp("fuzz"), API_KEY)
    spec = schema_with_pages(app)
    known = busiest_customer(trained)
    for path in ("/v1/customers/{customer_id}", "/customers/{customer_id}"):
        for parameter in spec["paths"][path]["get"]["parameters"]:
            if parameter["name"] == "customer_id":
                parameter["example"] = known  # the explicit phase asks for a customer of the snapshot
    schema = schemathesis.openapi.from_dict(spec)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.initial_load.join(timeout=30)
        token = csrf_of(client.get("/sign-in").text)
        signed_in = client.post(
            "/sign-in",
            data={"api_key": API_KEY, "next": "/portfolio", "csrf_token": token},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        session_cookies = dict(client.cookies.items())
        state = Fuzzed(client=client, schema=schema, session_cookies=session_cookies)
        yield state
    failures = sum(len(errors) for errors in state.server_errors.values())
    logger.warning("schemathesis in all: %d cases, %d server errors", sum(state.cases.values()), failures)


def send(client: TestClient, case: Any, headers: dict[str, str], cookies: dict[str, str]) -> Response | None:
    """The case as schemathesis would send it (its serialisation, via `requests`), through `client`.

    None for a case no HTTP client can send (a header value outside Latin-1, say).
    """
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    kwargs["cookies"] = {**(kwargs.get("cookies") or {}), **cookies}
    try:
        prepared = requests.Request(**kwargs).prepare()
    except (requests.RequestException, ValueError, UnicodeError):
        return None
    client.cookies.clear()  # only the cookies of the case and the session, never those set by earlier answers
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    try:
        return client.request(
            str(prepared.method),
            str(prepared.url),
            headers=dict(prepared.headers),
            content=body,
            follow_redirects=False,
        )
    except (httpx.InvalidURL, UnicodeError):
        return None


def test_the_fuzzed_schema_covers_every_operation(fuzzed: Fuzzed) -> None:
    in_schema = [
        (method.upper(), path)
        for path, operations in fuzzed.schema.raw_schema["paths"].items()
        for method in operations
    ]
    assert sorted(in_schema) == sorted(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_server_error(fuzzed: Fuzzed, method: str, path: str) -> None:
    operation = fuzzed.schema[path][method]
    is_page = not path.startswith(("/v1/", "/healthz", "/readyz", "/metrics"))
    label = f"{method} {path}"
    errors = fuzzed.server_errors.setdefault(label, [])
    fuzzed.cases[label] = 0
    statuses = fuzzed.statuses.setdefault(label, Counter())

    @seed(SEED)
    @settings(
        max_examples=2 * EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )
    )
    def run(case: Any) -> None:
        if is_page:
            response = send(fuzzed.client, case, {}, fuzzed.session_cookies)
        else:
            response = send(fuzzed.client, case, {"X-API-Key": API_KEY}, {})
        if response is None:
            return
        fuzzed.cases[label] += 1
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            errors.append(f"{response.status_code}: {case.as_curl_command()}\n{response.text[:300]}")

    run()

    logger.warning(
        "schemathesis %s: %d cases, %d server errors, statuses %s",
        label,
        fuzzed.cases[label],
        len(errors),
        dict(sorted(statuses.items())),
    )
    assert fuzzed.cases[label] > 0
    assert errors == []
