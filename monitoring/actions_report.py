"""The action evaluation as a standalone HTML report (`clvchurn evaluate actions --html`) and as the rows
the /actions page draws: each action's rates, its uplift with the interval as a bar on a common scale,
value, return and the target against the observed treatment rate.

The chart is plain HTML and inline SVG (no script, no other host), so the file opens anywhere and the
page keeps its strict Content-Security-Policy.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from policy.evaluation import ActionFigures, ActionsEvaluation, Figures

CHART_WIDTH = 240


@dataclass(frozen=True)
class IntervalBar:
    """An uplift and its interval placed on a scale from -limit to +limit, in percent of the width."""

    low: float
    high: float
    point: float
    zero: float
    significant: bool


def uplift_scale(evaluation: ActionsEvaluation) -> float:
    """The half-width of the common scale: the largest interval end, at least 0.05."""
    ends = [
        abs(value)
        for action in evaluation.actions
        for value in (action.uplift_ci_low, action.uplift_ci_high)
        if value is not None
    ]
    return max([0.05, *ends])


def interval_bar(figures: Figures, limit: float) -> IntervalBar | None:
    """Where the uplift and its interval fall on [-limit, limit], or None without a control group."""
    if figures.uplift is None or figures.uplift_ci_low is None or figures.uplift_ci_high is None:
        return None

    def place(value: float) -> float:
        return round(50.0 + 50.0 * max(-1.0, min(1.0, value / limit)), 2)

    return IntervalBar(
        low=place(figures.uplift_ci_low),
        high=place(figures.uplift_ci_high),
        point=place(figures.uplift),
        zero=50.0,
        significant=bool(figures.significant),
    )


def interval_svg(bar: IntervalBar | None, width: int = CHART_WIDTH) -> str:
    """The interval as an inline SVG: a line at zero, the interval and the estimate."""
    if bar is None:
        return ""
    scale = width / 100.0
    colour = "#1b7f3b" if bar.significant else "#6b7280"
    return (
        f'<svg width="{width}" height="16" viewBox="0 0 {width} 16" role="img" class="interval">'
        f'<line x1="{bar.zero * scale}" y1="0" x2="{bar.zero * scale}" y2="16" stroke="#999"/>'
        f'<rect x="{bar.low * scale}" y="5" width="{max(1.0, (bar.high - bar.low) * scale)}" height="6" '
        f'fill="{colour}" opacity="0.45"/>'
        f'<circle cx="{bar.point * scale}" cy="8" r="3.5" fill="{colour}"/></svg>'
    )


def write_html_report(evaluation: ActionsEvaluation, path: Path) -> Path:
    """Write the evaluation as one self-contained HTML file."""
    limit = uplift_scale(evaluation)
    rows = "\n".join(_row(action, limit) for action in evaluation.actions)
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clvchurn: retention actions</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}}td:first-child,th:first-child{{text-align:left}}</style>
</head><body>
<h1>Retention actions as of {evaluation.as_of:%Y-%m-%d}</h1>
<p>Uplift is the treatment group's success rate minus the control group's, with its
{evaluation.confidence:.0%} interval ({html.escape(evaluation.interval_method)}); the chart spans
&plusmn;{limit:.1%}. Evaluated {evaluation.evaluated_at:%Y-%m-%d %H:%M}.</p>
<table><thead><tr><th>action</th><th>rule</th><th>window</th><th>treated</th><th>control</th><th>rate T</th>
<th>rate C</th><th>uplift</th><th>95% interval</th><th></th><th>incremental value</th><th>cost</th><th>return</th>
<th>target</th><th>met</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path


def _row(action: ActionFigures, limit: float) -> str:
    if action.uplift is None:
        uplift, interval = "n/a", html.escape(action.note or "")
    else:
        uplift = f"{action.uplift:+.1%}"
        interval = f"[{action.uplift_ci_low:+.1%}, {action.uplift_ci_high:+.1%}]"
    met = "" if action.kpi.met is None else ("yes" if action.kpi.met else "no")
    cells = [
        html.escape(action.action_id),
        html.escape(action.rule_id or ""),
        f"{action.window_days} d",
        f"{action.n_treatment:,}",
        f"{action.n_control:,}",
        _percent(action.success_rate_treatment),
        _percent(action.success_rate_control),
        uplift,
        interval,
        interval_svg(interval_bar(action, limit)),
        _money(action.incremental_value),
        _money(action.cost),
        "" if action.roi is None else f"{action.roi:+.2f}",
        _percent(action.kpi.target),
        met,
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"
