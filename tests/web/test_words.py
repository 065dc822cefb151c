"""Every word in every language: no catalogue key in one language only, and no fallback while the pages
and the API answer on the trained pair (synthetic data brings only attributes the catalogues name)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.forms import sign_in
from support.trained import AS_OF, TrainedModels, real_service, request_for

from features.build import build_features
from features.definitions import FEATURES
from serving.text import Catalogues

API_KEY = "words-test-key-71c0"
AUTH = {"X-API-Key": API_KEY}


def test_every_key_is_in_every_catalogue() -> None:
    catalogues = Catalogues.load()
    keys = {lang: set(catalogue.entries) for lang, catalogue in catalogues.by_language.items()}

    for lang, own in keys.items():
        for other, their in keys.items():
            assert not own - their, f"in {lang} but not in {other}: {sorted(own - their)}"


def test_every_feature_and_method_has_a_label_in_every_language() -> None:
    for catalogue in Catalogues.load().by_language.values():
        for spec in FEATURES:
            assert catalogue.has(f"feature.{spec.name}"), (catalogue.language, spec.name)
        for method in ("quantile", "absolute"):
            assert catalogue.has(f"tier_method.{method}"), (catalogue.language, method)


@pytest.fixture(scope="module")
def service(
    trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, TestClient]]:
    folder = tmp_path_factory.mktemp("words")
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("CLVCHURN_DATABASE_URL", f"sqlite:///{folder / 'clvchurn.db'}")
        app = real_service(trained, folder, API_KEY)
        with TestClient(app, follow_redirects=False) as client:
            app.state.initial_load.join(timeout=30)
            assert sign_in(client, API_KEY).status_code == 303
            yield app, client


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_and_responses_never_fall_back_to_another_language(
    trained: TrainedModels, service: tuple[FastAPI, TestClient], lang: str
) -> None:
    app, client = service
    ids = build_features(trained.raw, AS_OF)["customer_id"].to_list()
    snapshot = app.state.snapshots.frame()
    with_attributes = snapshot.filter(
        pl.concat_list(pl.col("probability_reasons"), pl.col("value_reasons"))
        .list.eval(pl.element().struct.field("feature").str.starts_with("profile_"))
        .list.any()
    )["customer_id"]
    assert with_attributes.len() > 0, "no customer has an attribute among their reasons"
    shown = [*ids[:: max(1, len(ids) // 40)], *with_attributes.head(5).to_list()]

    for path in (
        "/portfolio",
        "/portfolio?page=2",
        "/portfolio?sort=probability",
        "/portfolio?population=lapsed",
        "/portfolio?population=prospect",
        "/models",
    ):
        assert client.get(f"{path}{'&' if '?' in path else '?'}lang={lang}").status_code == 200, path
    for customer_id in shown:
        assert client.get(f"/customers/{customer_id}?lang={lang}").status_code == 200
        assert client.get(f"/v1/customers/{customer_id}?lang={lang}", headers=AUTH).status_code == 200
    bodies = [request_for(trained.raw, customer_id).model_dump(mode="json") for customer_id in shown[:10]]
    assert (
        client.post(f"/v1/predict/batch?lang={lang}", json={"customers": bodies}, headers=AUTH).status_code
        == 200
    )

    for texts in (app.state.texts, trained.engine.texts):
        assert texts.catalogues[lang].misses == set()
