"""The language layer: message catalogues, language negotiation, and SHAP contributions as reason codes.

A reason code turns one feature's SHAP contribution (Lundberg & Lee 2017, "A unified approach to
interpreting model predictions", NeurIPS) into a sentence an account manager can act on, comparing
the customer's value with the median of their tier computed at training time
(`training.reference`): "No order for 142 days; customers in tier A usually order every 21 days."

All wording lives in `serving/catalogues/<lang>.yaml`; this module holds no English or Chinese text,
only the rules that pick a template and format numbers (days as whole days, currency with two
decimals and thousands separators, ratios as percentages). Catalogues are read once into a
`Catalogues` object that the app creates at start-up and hands to a `ReasonCoder`.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from domain.errors import CatalogueError, MissingTextError, UnknownFeatureError, UnsupportedLanguageError
from domain.vocabulary import DEFAULT_LANGUAGE, LANGUAGES, Direction, Language
from domain.vocabulary import ReasonKind as ExplainedKind
from features.definitions import FEATURES, FeatureSpec, Unit, describe

CATALOGUE_DIR: Final = Path(__file__).parent / "catalogues"

# Which feature's tier median a sentence compares with, when it is not the feature itself:
# how long since the last order means most next to how often the tier usually orders.
COMPARED_WITH: Final[Mapping[str, str]] = {"days_since_last_order": "mean_days_between_orders"}

_INTERACTION_NOUNS: Final[Mapping[str, str]] = {
    "visit": "visits",
    "email_open": "email_opens",
    "email_click": "email_clicks",
    "call": "calls",
    "meeting": "meetings",
    "inquiry": "inquiries",
    "support_ticket": "support_tickets",
    "complaint": "complaints",
    "survey": "surveys",
}
_COUNT_NOUNS: Final[Mapping[str, str]] = {
    "orders": "orders",
    "order_days": "order_days",
    "refunds": "refunds",
    "distinct_categories": "categories",
    "distinct_channels": "channels",
    "interactions": "interactions",
    **{noun: noun for noun in _INTERACTION_NOUNS.values()},
    **{f"interactions_{kind}": noun for kind, noun in _INTERACTION_NOUNS.items()},
}
_WINDOW_FEATURE = re.compile(r"^(?P<stem>[a-z_]+?)_(?P<days>\d+)d$")
_LIFETIME_OR_TREND = re.compile(r"^(?P<stem>[a-z_]+?)_(lifetime|trend_\d+d)$")
_PROFILE_PREFIX: Final = "profile_"
_VARIANT_SUFFIXES: Final = ("", ".text", ".above", ".below", ".up", ".down", ".flat")


def negotiate_language(query_lang: str | None, accept_language_header: str | None) -> Language:
    """The response language: a supported `?lang=` wins, then the best Accept-Language entry, else English.

    Every Chinese tag (zh, zh-CN, zh-Hans, zh-TW, ...) maps to the Simplified Chinese catalogue, the
    only Chinese one. Accept-Language quality values follow RFC 9110 section 12.5.4; q=0 means "not
    acceptable" and ties keep header order.
    """
    chosen = _supported(query_lang)
    if chosen is not None:
        return chosen
    best: tuple[float, int, Language] | None = None
    for position, entry in enumerate((accept_language_header or "").split(",")):
        tag, _, parameters = entry.strip().partition(";")
        language = _supported(tag)
        quality = _quality(parameters)
        if language is None or quality <= 0:
            continue
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, language)
    return best[2] if best is not None else DEFAULT_LANGUAGE


def _supported(tag: str | None) -> Language | None:
    primary = (tag or "").strip().lower().replace("_", "-").split("-")[0]
    if primary == "zh":
        return "zh"
    if primary == "en":
        return "en"
    return None


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


@dataclass(frozen=True)
class Catalogue:
    """The texts of one language, flattened to dotted keys (``owner.account_manager``).

    Values are strings (templates with ``{name}`` parameters) or lists of strings (action steps).
    """

    language: Language
    source: Path
    entries: Mapping[str, str | list[str]]

    @classmethod
    def load(cls, lang: str, directory: Path = CATALOGUE_DIR) -> Catalogue:
        if lang not in LANGUAGES:
            raise UnsupportedLanguageError(f"no catalogue for language {lang!r}; use one of {LANGUAGES}")
        path = directory / f"{lang}.yaml"
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise CatalogueError(f"cannot read catalogue {path}: {error}") from error
        if not isinstance(document, dict):
            raise CatalogueError(f"catalogue {path} must be a mapping of keys to texts")
        return cls(lang, path, dict(_flatten(document, "", path)))  # type: ignore[arg-type]

    def has(self, key: str) -> bool:
        return isinstance(self.entries.get(key), str)

    def text(self, key: str, **params: Any) -> str:
        """The text for `key` with `params` filled in; raises `MissingTextError` naming key and file."""
        return self.fill(key, params)

    def fill(self, key: str, params: Mapping[str, Any]) -> str:
        """`text` with the parameters as a mapping, which may compute them only when asked for."""
        template = self.entries.get(key)
        if not isinstance(template, str):
            raise MissingTextError(f"catalogue {self.source.name} has no text for {key!r}")
        return self._fill(key, template, params)

    def texts(self, key: str, **params: Any) -> list[str]:
        """A list of texts (e.g. the steps of an action) with `params` filled into each."""
        templates = self.entries.get(key)
        if not isinstance(templates, list):
            raise MissingTextError(f"catalogue {self.source.name} has no list of texts for {key!r}")
        return [self._fill(key, template, params) for template in templates]

    def resolve(self, key_or_text: str, **params: Any) -> str:
        """Catalogue text when `key_or_text` is a key of this catalogue, else the literal text itself."""
        return self.text(key_or_text, **params) if self.has(key_or_text) else key_or_text

    def plural(self, key: str, n: float, shown: str) -> str:
        """``key.one`` when `n` is exactly 1 (and the language has it), else ``key.other``, with ``{n}``."""
        if n == 1 and self.has(f"{key}.one"):
            return self.text(f"{key}.one", n=shown)
        return self.text(f"{key}.other", n=shown)

    def _fill(self, key: str, template: str, params: Mapping[str, Any]) -> str:
        try:
            return template.format_map(params)
        except (KeyError, IndexError) as error:
            raise MissingTextError(
                f"catalogue {self.source.name} text {key!r} needs parameter {error} that was not given"
            ) from error


def _flatten(node: Any, prefix: str, path: Path) -> Iterator[tuple[str, str | list[str]]]:
    if isinstance(node, dict):
        for name, child in node.items():
            yield from _flatten(child, f"{prefix}{name}.", path)
        return
    key = prefix[:-1]
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, list) and all(isinstance(item, str) for item in node):
        yield key, list(node)
    else:
        raise CatalogueError(f"catalogue {path} key {key!r} must be text or a list of texts, got {node!r}")


@dataclass(frozen=True)
class Catalogues:
    """Every language's catalogue, loaded once at start-up."""

    by_language: Mapping[Language, Catalogue]

    @classmethod
    def load(cls, directory: Path = CATALOGUE_DIR) -> Catalogues:
        return cls({lang: Catalogue.load(lang, directory) for lang in LANGUAGES})

    def __getitem__(self, lang: str) -> Catalogue:
        if lang not in self.by_language:
            raise UnsupportedLanguageError(f"no catalogue for language {lang!r}; use one of {LANGUAGES}")
        return self.by_language[lang]  # type: ignore[index]


@dataclass(frozen=True, slots=True)
class Reason:
    """One feature's part in a prediction, in words.

    `contribution` is in probability points for churn (0.042 = +4.2 points) and in currency for
    value; `direction` says whether it pushes the churn risk (or the value) up or down.
    """

    feature: str
    label: str
    value: Any
    contribution: float
    direction: Direction
    impact: str
    sentence: str


def top_risk_driver(contributions: Mapping[str, float]) -> str | None:
    """The feature that raises churn risk the most: the `top_reason` the playbook matches on."""
    name, contribution = max(contributions.items(), key=lambda item: (item[1], item[0]), default=("", 0.0))
    return name if contribution > 0 else None


class ReasonCoder:
    """Writes reason codes from SHAP contributions; create once at start-up and share.

    The wording of every defined feature (label, unit, template, noun) is worked out once per
    language here, so a request only formats numbers. `describe_feature` gives the description and
    unit used by the generic sentence; names it does not know get a unit guessed from the name.
    """

    def __init__(
        self,
        catalogues: Catalogues,
        describe_feature: Callable[[str], FeatureSpec] = describe,
        known_features: Iterable[str] = (),
    ) -> None:
        self.catalogues = catalogues
        self.describe_feature = describe_feature
        names = tuple(known_features) or tuple(spec.name for spec in FEATURES)
        self._wordings: Mapping[str, Mapping[str, _Wording]] = {
            lang: {name: self._wording(name, catalogue) for name in names}
            for lang, catalogue in catalogues.by_language.items()
        }
        # Which template a situation picks, per language: filled on first use, the same ever after.
        self._templates: Mapping[str, dict[_Situation, str]] = {lang: {} for lang in catalogues.by_language}

    @classmethod
    def load(cls, directory: Path = CATALOGUE_DIR) -> ReasonCoder:
        return cls(Catalogues.load(directory))

    def reason_codes(
        self,
        contributions: Mapping[str, float],
        feature_values: Mapping[str, Any],
        tier: str,
        reference: Mapping[str, Any],
        kind: ExplainedKind,
        lang: Language,
        top_n: int = 3,
        sentences: dict[tuple[Any, ...], str] | None = None,
    ) -> list[Reason]:
        """The `top_n` features with the largest absolute contribution (ties in input order), as sentences.

        Zero and non-finite contributions are skipped. `reference` is the output of
        `training.reference.compute_reference_statistics`; a tier absent from it falls back to the
        overall statistics, a missing statistic to a sentence without comparison. A batch passes one
        `sentences` dictionary to all its calls: a sentence depends only on (reference, kind, language,
        tier, feature, value), and customers share most of them.
        """
        catalogue = self.catalogues[lang]
        wordings = self._wordings[lang]
        templates = self._templates[lang]
        ranked = _largest(contributions, top_n)
        peers_stats, peers = _peers(reference, tier, catalogue)
        reasons = []
        for name, contribution in ranked:
            wording = wordings.get(name) or self._wording(name, catalogue)
            value = feature_values.get(name)
            # id(reference): a memo shared by mistake across references still gives right sentences;
            # repr: 0.0 and -0.0 may read differently.
            key = (id(reference), kind, lang, tier, name, repr(value))
            sentence = None if sentences is None else sentences.get(key)
            if sentence is None:
                sentence = _sentence(wording, value, peers_stats, peers, catalogue, templates)
                if sentences is not None:
                    sentences[key] = sentence
            reasons.append(
                Reason(
                    feature=name,
                    label=wording.label,
                    value=value,
                    contribution=contribution,
                    direction="increases" if contribution > 0 else "decreases",
                    impact=_impact(contribution, kind, catalogue),
                    sentence=sentence,
                )
            )
        return reasons

    def _wording(self, name: str, catalogue: Catalogue) -> _Wording:
        try:
            spec = self.describe_feature(name)
        except UnknownFeatureError:
            spec = FeatureSpec(name, name.replace("_", " ").capitalize(), _guess_unit(name), "numeric")
        categorical = spec.unit == "category" or name.startswith(_PROFILE_PREFIX)
        return _Wording(
            label=_label(name, spec, catalogue),
            unit=spec.unit,
            categorical=categorical,
            noun=_noun(name) if spec.unit == "count" else None,
            template_key=None if categorical else _template_key(name, catalogue),
            window=_window(name, catalogue),
            compared_with=COMPARED_WITH.get(name, name),
            trend="_trend_" in name,
        )


def _largest(contributions: Mapping[str, float], top_n: int) -> list[tuple[str, float]]:
    """The `top_n` largest absolute contributions, skipping zero and non-finite ones."""
    chosen = heapq.nlargest(top_n, contributions.items(), key=_absolute)
    if all(c and math.isfinite(c) for _, c in chosen):
        return [(name, float(c)) for name, c in chosen]
    usable = [(name, float(c)) for name, c in contributions.items() if c and math.isfinite(c)]
    return heapq.nlargest(top_n, usable, key=_absolute)


def _absolute(item: tuple[str, float]) -> float:
    return abs(item[1])


@dataclass(frozen=True, slots=True)
class _Wording:
    """How one feature is put into words in one language, fixed at start-up."""

    label: str
    unit: str
    categorical: bool
    noun: str | None
    template_key: str | None
    window: str
    compared_with: str
    trend: bool


class _Params(dict[str, str]):
    """Template parameters computed only when the chosen template asks for them."""

    def __init__(
        self, number: float, median: float | None, wording: _Wording, catalogue: Catalogue, **given: str
    ):
        super().__init__(given)
        self.number, self.median, self.wording, self.catalogue = number, median, wording, catalogue

    def __missing__(self, key: str) -> str:
        unit, noun = self.wording.unit, self.wording.noun
        if key == "value":
            return _format(self.number, unit, noun, self.catalogue)
        if key == "abs_value":
            return _format(abs(self.number), unit, noun, self.catalogue)
        if key == "abs_number":
            return _format(abs(self.number), unit, None, self.catalogue)
        if key == "median" and self.median is not None:
            return _format(self.median, unit, noun, self.catalogue)
        raise KeyError(key)


def _peers(reference: Mapping[str, Any], tier: str, catalogue: Catalogue) -> tuple[Mapping[str, Any], str]:
    tiers = reference.get("tiers") or {}
    if tier in tiers:
        return tiers[tier].get("features", {}), catalogue.text("peers.tier", tier=tier)
    overall = reference.get("overall") or {}
    return overall.get("features", {}), catalogue.text("peers.all")


def _median(peers_stats: Mapping[str, Any], name: str) -> float | None:
    median = (peers_stats.get(name) or {}).get("median")
    return None if median is None or not math.isfinite(median) else float(median)


def _label(name: str, spec: FeatureSpec, catalogue: Catalogue) -> str:
    if catalogue.has(f"feature.{name}"):
        return catalogue.text(f"feature.{name}")
    if name.startswith(_PROFILE_PREFIX):
        return _attribute(name)
    return spec.description


def _attribute(name: str) -> str:
    return name[len(_PROFILE_PREFIX) :].replace("_", " ").capitalize()


def _impact(contribution: float, kind: ExplainedKind, catalogue: Catalogue) -> str:
    signed = f"{contribution * 100:+.1f}" if kind == "churn" else f"{contribution:+,.2f}"
    return catalogue.text(f"impact.{kind}", signed=signed)


def _sentence(
    wording: _Wording,
    value: Any,
    peers_stats: Mapping[str, Any],
    peers: str,
    catalogue: Catalogue,
    templates: dict[_Situation, str],
) -> str:
    if wording.categorical:
        if value is None:
            return catalogue.text("reason.missing", label=wording.label)
        return catalogue.text("reason.profile", attribute=wording.label, value=str(value))
    number = _finite(value)
    if number is None:
        return catalogue.text("reason.missing", label=wording.label)
    median = _median(peers_stats, wording.compared_with)
    trend = ("up" if number > 0 else "down" if number < 0 else "flat") if wording.trend else None
    compared = None if median is None or number == median else "above" if number > median else "below"
    situation = (wording.template_key, trend, compared, median is None)
    template_key = templates.get(situation)
    if template_key is None:
        template_key = templates[situation] = _template(*situation, catalogue)
    params = _Params(
        number, median, wording, catalogue, label=wording.label, peers=peers, window=wording.window
    )
    return catalogue.fill(template_key, params)


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, str | bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _template_key(name: str, catalogue: Catalogue) -> str | None:
    """The catalogue entry for a feature: its own, else its family's (``orders_90d`` -> ``orders_window``)."""
    own = f"reason.{name}"
    if _has_template(own, catalogue):
        return own
    window = _WINDOW_FEATURE.match(name)
    if window:
        stem = window["stem"]
        family = stem if stem in ("orders", "net_spend") else "interactions" if stem in _COUNT_NOUNS else stem
        if _has_template(f"reason.{family}_window", catalogue):
            return f"reason.{family}_window"
    return None


def _has_template(key: str, catalogue: Catalogue) -> bool:
    return any(catalogue.has(f"{key}{suffix}") for suffix in _VARIANT_SUFFIXES)


# (template key of the feature, trend direction, above/below the median, median missing)
_Situation = tuple[str | None, str | None, str | None, bool]


def _template(
    key: str | None, trend: str | None, compared: str | None, median_missing: bool, catalogue: Catalogue
) -> str:
    """The catalogue entry a sentence uses; the generic one when the feature has none of its own."""
    template_key = (_variant(key, trend, compared, catalogue) if key else None) or "reason.generic"
    if median_missing and "{median}" in str(catalogue.entries[template_key]):
        return "reason.no_reference"
    return template_key


def _variant(key: str, trend: str | None, compared: str | None, catalogue: Catalogue) -> str | None:
    """Most specific wording first: rising/falling trends (`trend`), then above/below the tier median."""
    candidates = [f"{key}.{trend}"] if trend else []
    if compared:
        candidates.append(f"{key}.{compared}")
    candidates += [f"{key}.text", key]
    return next((candidate for candidate in candidates if catalogue.has(candidate)), None)


def _window(name: str, catalogue: Catalogue) -> str:
    window = _WINDOW_FEATURE.match(name)
    return catalogue.text("window", n=window["days"]) if window else ""


def _noun(name: str) -> str | None:
    for pattern in (_WINDOW_FEATURE, _LIFETIME_OR_TREND):
        match = pattern.match(name)
        if match and match["stem"] in _COUNT_NOUNS:
            return _COUNT_NOUNS[match["stem"]]
    return None


def _format(number: float, unit: str, noun: str | None, catalogue: Catalogue) -> str:
    """Numbers as an account manager reads them: whole days, 1,234.50 currency, 12.5% ratios."""
    if unit == "days":
        whole = round(number)
        return catalogue.plural("unit.days", whole, f"{whole:,}")
    if unit == "currency":
        return f"{number:,.2f}"
    if unit == "ratio":
        return f"{_trim(number * 100, 1)}%"
    if unit == "count":
        shown = _trim(number, 1)
        return catalogue.plural(f"noun.{noun}", number, shown) if noun else shown
    return _trim(number, 2)


def _trim(number: float, decimals: int) -> str:
    """Thousands separators, at most `decimals` decimals, no trailing zeros (4.0 -> "4")."""
    text = f"{number:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _guess_unit(name: str) -> Unit:
    if name.startswith(_PROFILE_PREFIX):
        return "category"
    if name.startswith("days_") or name.endswith("_days") or "_days_" in name:
        return "days"
    if "spend" in name or "value" in name or "amount" in name:
        return "currency"
    if "share" in name or "ratio" in name or "rate" in name:
        return "ratio"
    if _noun(name):
        return "count"
    return "score"
