"""`clvchurn monitor --html`: the monitoring page as one self-contained HTML file.

The same macros as /monitoring (`templates/monitoring_macros.html`) with the stylesheets inlined, so the
file opens anywhere without the service and fetches nothing; heat-map cells carry no links (there is no
service to list the movers), the movers are in the report's movers file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.vocabulary import Language
from serving.text import Texts
from serving.web.language import HTML_LANG, PageText
from serving.web.monitoring_view import drift_labels, monitoring_view
from serving.web.pages import WEB_DIR, format_day, format_money, format_percent

STYLESHEETS = ("app.css", "monitoring.css")


def render_report_html(report: Mapping[str, Any], lang: str = "en", texts: Texts | None = None) -> str:
    """The report as a standalone page in `lang` (en or zh)."""
    from policy.playbook import DEFAULT_PLAYBOOK

    texts = texts or Texts.load(DEFAULT_PLAYBOOK)
    catalogue = texts.catalogues[lang]
    language: Language = catalogue.language
    environment = Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"])
    )
    environment.filters.update(money=format_money, percent=format_percent, day=format_day)
    view = monitoring_view(report, drift_labels(texts, language), moves_link=None)
    stylesheet = "\n".join((WEB_DIR / "static" / name).read_text(encoding="utf-8") for name in STYLESHEETS)
    return environment.get_template("monitoring_report.html").render(
        t=PageText(catalogue), view=view, html_lang=HTML_LANG[language], stylesheet=stylesheet
    )
