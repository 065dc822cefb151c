"""Reason codes in words: the sentence, label and impact of one feature's part in a prediction.

A reason code (`serving.reasons`) says which feature moved a prediction, by how much, the customer's
value and the reference it is compared with (the median of the customer's tier computed at training
time). Here it becomes a sentence an account manager can act on, in the reader's language: "No order
for 142 days; customers in tier A usually order every 21 days."

All wording lives in the catalogues; this module holds no English or Chinese text, only the rules that
pick a template and format numbers (days as whole days, currency with two decimals and thousands
separators, ratios as percentages). The wording of every defined feature is worked out once per
language when the writer is made; a sentence depends only on (language, feature, value, reference,
reference group), so a batch renders each distinct one once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from domain.errors import UnknownFeatureError
from domain.vocabulary import Direction, Language, ReasonKind
from features.definitions import FEATURES, INTERACTION_TYPE_NOUNS, PROFILE_PREFIX, FeatureSpec, Unit, describe
from serving.text.catalogues import Catalogue, Catalogues

ALL_CUSTOMERS: Final = "all"
"""The reference group of a reason compared with every customer rather than the customer's tier."""

_COUNT_NOUNS: Final[Mapping[str, str]] = {
    "orders": "orders",
    "order_days": "order_days",
    "refunds": "refunds",
    "distinct_categories": "categories",
    "distinct_channels": "channels",
    "interactions": "interactions",
    **{noun: noun for noun in INTERACTION_TYPE_NOUNS.values()},
    **{f"interactions_{kind}": noun for kind, noun in INTERACTION_TYPE_NOUNS.items()},
}
_WINDOW_FEATURE = re.compile(r"^(?P<stem>[a-z_]+?)_(?P<days>\d+)d$")
_LIFETIME_OR_TREND = re.compile(r"^(?P<stem>[a-z_]+?)_(lifetime|trend_\d+d)$")
_VARIANT_SUFFIXES: Final = ("", ".text", ".above", ".below", ".up", ".down", ".flat")


@dataclass(frozen=True, slots=True)
class RenderedReason:
    """One reason as the API and the pages show it."""

    feature: str
    label: str
    value: Any
    contribution: float
    direction: Direction
    impact: str
    sentence: str


class ReasonWriter:
    """Renders reason codes in any language of its catalogues; create once at start-up and share.

    `describe_feature` gives the description and unit used by the generic sentence; names it does
    not know get a unit guessed from the name.
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
        self._wordings: dict[str, dict[str, _Wording]] = {
            lang: {name: self._wording(name, catalogue) for name in names}
            for lang, catalogue in catalogues.by_language.items()
        }
        # Which template a situation picks, per language: filled on first use, the same ever after.
        self._templates: Mapping[str, dict[_Situation, str]] = {lang: {} for lang in catalogues.by_language}

    def label(self, feature: str, lang: Language) -> str:
        """The feature's name in `lang`."""
        return self._wording_of(feature, lang).label

    def render(
        self,
        code: Mapping[str, Any],
        kind: ReasonKind,
        lang: Language,
        sentences: dict[tuple[Any, ...], str] | None = None,
    ) -> RenderedReason:
        """One reason code (`serving.reasons.REASON_FIELDS`) in words.

        A caller rendering many passes one `sentences` dictionary to all its calls: customers share
        most sentences.
        """
        catalogue = self.catalogues[lang]
        feature = code["feature"]
        wording = self._wording_of(feature, lang)
        value = code["value_text"] if code.get("value_text") is not None else code.get("value")
        median, group = code.get("reference_value"), code.get("reference_group") or ALL_CUSTOMERS
        # repr: 0.0 and -0.0 may read differently.
        key = (lang, feature, repr(value), repr(median), group)
        sentence = None if sentences is None else sentences.get(key)
        if sentence is None:
            peers = (
                catalogue.text("peers.all")
                if group == ALL_CUSTOMERS
                else catalogue.text("peers.tier", tier=group)
            )
            finite_median = median if median is not None and math.isfinite(median) else None
            sentence = _sentence(wording, value, finite_median, peers, catalogue, self._templates[lang])
            if sentences is not None:
                sentences[key] = sentence
        contribution = float(code["contribution"])
        return RenderedReason(
            feature=feature,
            label=wording.label,
            value=value,
            contribution=contribution,
            direction=code.get("direction") or ("increases" if contribution > 0 else "decreases"),
            impact=impact(contribution, kind, catalogue),
            sentence=sentence,
        )

    def _wording_of(self, feature: str, lang: Language) -> _Wording:
        wordings = self._wordings[lang]
        wording = wordings.get(feature)
        if wording is None:
            wording = wordings[feature] = self._wording(feature, self.catalogues[lang])
        return wording

    def _wording(self, name: str, catalogue: Catalogue) -> _Wording:
        try:
            spec = self.describe_feature(name)
        except UnknownFeatureError:
            spec = FeatureSpec(name, name.replace("_", " ").capitalize(), _guess_unit(name), "numeric")
        categorical = spec.unit == "category" or name.startswith(PROFILE_PREFIX)
        return _Wording(
            label=_label(name, spec, catalogue),
            unit=spec.unit,
            categorical=categorical,
            noun=_noun(name) if spec.unit == "count" else None,
            template_key=None if categorical else _template_key(name, catalogue),
            window=_window(name, catalogue),
            trend="_trend_" in name,
        )


@dataclass(frozen=True, slots=True)
class _Wording:
    """How one feature is put into words in one language, fixed at start-up."""

    label: str
    unit: str
    categorical: bool
    noun: str | None
    template_key: str | None
    window: str
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


def _label(name: str, spec: FeatureSpec, catalogue: Catalogue) -> str:
    """The feature's name in the catalogue's language; an attribute the catalogue does not know keeps
    the name the data gave it."""
    if name.startswith(PROFILE_PREFIX):
        attribute = name[len(PROFILE_PREFIX) :]
        return catalogue.text_or(f"attribute.{attribute}", attribute.replace("_", " ").capitalize())
    return catalogue.text_or(f"feature.{name}", spec.description)


def impact(contribution: float, kind: ReasonKind, catalogue: Catalogue) -> str:
    """A contribution for people: probabilities in points (0.042 -> +4.2), value in currency."""
    signed = f"{contribution:+,.2f}" if kind == "value" else f"{contribution * 100:+.1f}"
    return catalogue.text(f"impact.{kind}", signed=signed)


def _sentence(
    wording: _Wording,
    value: Any,
    median: float | None,
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
    if name.startswith(PROFILE_PREFIX):
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
