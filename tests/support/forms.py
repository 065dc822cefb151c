"""Posting the pages' forms as a browser does: with the CSRF token the form carries."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    found = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, api_key: str, next_path: str | None = "/portfolio") -> Response:
    """Post the sign-in form as a browser would: its CSRF token first, from the form."""
    data = {"api_key": api_key, "csrf_token": csrf_of(client.get("/sign-in").text)}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/sign-in", data=data)
