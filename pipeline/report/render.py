"""Build the insight report: read the marts, draw SVG charts, render one offline HTML file.

The report is a list of sections (`SECTIONS`): each has an id, a title key in
`i18n.STRINGS`, a template under `templates/sections/` and a function building its context
from the shared `ReportData`. Adding a section (e.g. predictions) is one entry, one function
and one template; the table of contents and the numbering follow.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pandas as pd
from markupsafe import Markup

from pipeline.lib.codes import OVERALL
from pipeline.lib.reasons import RunReason
from pipeline.report import data, outlook, svg
from pipeline.report.data import num
from pipeline.report.i18n import DEFAULT_LANGUAGE, Formatter, Translator, strings

TEMPLATES = Path(__file__).parent / "templates"
TREND_COLORS = {
    "growing": "#3a9d5d",
    "shrinking": "#c0392b",
    "stable": "#5f6b7a",
    "no_trend": "#1f4e8c",
}
#: Relative change in customers under which a segment counts as stable.
STABLE_BAND = 0.02


@dataclass(frozen=True)
class ReportResult:
    """Where the report was written and what it covers (becomes the asset's metadata)."""

    path: Path
    latest: Path
    as_of: dt.date
    language: str
    size_bytes: int
    segments: int
    customers: int
    refreshes_in_history: int


@dataclass
class ReportData:
    """Everything the sections share: the connection, the language and the common lookups."""

    con: duckdb.DuckDBPyConnection
    language: str
    t: dict[str, str]
    f: Formatter
    codes: Translator
    as_of: dt.date
    segments: list[data.Segment]
    labels: dict[str, str]
    refreshes: list[dt.date]
    previous_as_of: dt.date | None
    trends: dict[str, float | None]
    personas: list[data.Persona]

    def segment_label(self, code: object) -> str:
        """A segment's label in the report language (overall and unscored rows included)."""
        text = str(code)
        return self.labels.get(text) or self.codes.code("segment", text)


@dataclass(frozen=True)
class Section:
    """One section of the report: `build(report_data)` returns its template context, or None
    when the warehouse has nothing for it (the section and its contents entry are left out)."""

    id: str
    title: str
    template: str
    build: Callable[[ReportData], dict[str, Any] | None]


def trend_label(trend: float | None) -> str:
    """Word for a segment's customer trend: growing / shrinking / stable / no_trend."""
    if trend is None:
        return "no_trend"
    if trend > STABLE_BAND:
        return "growing"
    if trend < -STABLE_BAND:
        return "shrinking"
    return "stable"


def _attr(value: float | int | str | None, decimals: int = 4) -> str:
    """A machine-readable data-* attribute value: plain '.' decimals, '' for missing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value != value:
        return ""
    return f"{round(float(value), decimals):.{decimals}f}".rstrip("0").rstrip(".")


def _environment() -> jinja2.Environment:
    """Jinja environment with autoescaping: labels come from data and must never inject HTML."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def nps_text(value: float | None, responses: int, reliable: bool, r: ReportData) -> str:
    """An NPS with its number of answers; hidden when it rests on too few answers."""
    n = f"{r.t['nps_n']}\u00a0=\u00a0{r.f.number(responses)}"
    if value is None or not reliable:
        return f"– ({n}, {r.t['too_few_answers']})" if responses else "–"
    return f"{r.f.number(value, 0)} ({n})"


# --------------------------------------------------------------------------- sections

#: Headline metrics: UI string key and how to format (kind, decimals).
HEADLINE = {
    "customers": ("customers", "number", 0),
    "revenue": ("revenue", "money", 0),
    "avg_basket": ("avg_basket", "money", 2),
    "avg_frequency": ("avg_frequency", "number", 2),
    "avg_recency_days": ("avg_recency", "number", 0),
    "nps": ("nps", "number", 0),
    "churn_rate": ("churn_rate", "pct", 1),
    "return_rate": ("return_rate", "pct", 1),
    "tickets_per_customer": ("tickets", "number", 2),
}


def headline_section(r: ReportData) -> dict[str, Any]:
    """Overall KPIs and their change since the previous refresh (rates in points)."""
    head = data.headline(r.con, r.as_of)
    f = r.f
    cards = []
    for metric, (key, kind, decimals) in HEADLINE.items():
        now = head["now"].get(metric)
        prev = (head["previous"] or {}).get(metric)
        value = {"money": f.money, "pct": f.pct}.get(kind, f.number)(now, decimals)
        if metric == "nps":
            value = nps_text(now, head["nps_responses"], head["nps_reliable"], r)
            if not head["nps_reliable"]:
                prev = None
        delta = None
        if now is not None and prev is not None:
            if kind == "pct":
                delta = f.signed(now - prev, decimals, percent=True)
            else:
                delta = f.signed(now - prev, decimals)
                if prev and (kind == "money" or metric == "customers"):
                    delta += f" ({f.signed((now - prev) / prev, 1, percent=True)})"
        cards.append(
            {"metric": metric, "label": r.t[key], "value": value, "delta": delta, "raw": now}
        )
    return {"head": head, "cards": cards}


def segments_section(r: ReportData) -> dict[str, Any]:
    """Customer share and revenue share per segment (segment_kpis)."""
    dist = data.segment_distribution(r.con)
    f, t = r.f, r.t
    rows = [
        {
            "code": row.segment,
            "label": r.segment_label(row.segment),
            "customers": int(row.customers),
            "share": num(row.share) or 0.0,
            "revenue": num(row.revenue),
            "revenue_share": num(row.revenue_share),
        }
        for row in dist.itertuples()
    ]
    customers = [
        (d["label"], d["share"], f"{f.number(d['customers'])} · {f.pct(d['share'])}") for d in rows
    ]
    revenue = [
        (
            d["label"],
            d["revenue_share"] or 0.0,
            f"{f.money(d['revenue'])} · {f.pct(d['revenue_share'] or 0.0)}",
        )
        for d in rows
    ]
    charts = [
        Markup(
            svg.hbar_chart(
                "segment-customers", t["customer_share_chart"], customers, svg.color_for(0)
            )
        ),
        Markup(
            svg.hbar_chart("segment-revenue", t["revenue_share_chart"], revenue, svg.color_for(1))
        ),
    ]
    return {"charts": charts, "rows": rows}


def rf_grid_section(r: ReportData) -> dict[str, Any]:
    """R (rows, best on top) x F (columns) with customers and average monetary (rfm_grid)."""
    grid = data.rf_grid(r.con)
    f = r.f
    cells = {(int(c.r_score), int(c.f_score)): c for c in grid.itertuples()}
    top = max([*(k[0] for k in cells), *(k[1] for k in cells), 1])
    vmax = max((num(c.avg_monetary) or 0.0 for c in cells.values()), default=0) or 1.0
    rows = [str(i) for i in range(top, 0, -1)]
    cols = [str(i) for i in range(1, top + 1)]

    def ratio(row: str, col: str) -> float | None:
        cell = cells.get((int(row), int(col)))
        return None if cell is None else (num(cell.avg_monetary) or 0.0) / vmax

    def text(row: str, col: str) -> list[str]:
        cell = cells.get((int(row), int(col)))
        if cell is None:
            return ["0"]
        return [f.number(int(cell.customers)), f.money(num(cell.avg_monetary))]

    chart = svg.heatmap(
        "rf-grid",
        r.t["sec_rf_grid"],
        rows,
        cols,
        ratio,
        text,
        r.t["frequency_score"],
        r.t["recency_score"],
        cell_w=84,
        cell_h=44,
        label_w=30,
    )
    return {"chart": Markup(chart)}


MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def month_name(month: int, language: str) -> str:
    """Month name in the report language (not the process locale, which servers rarely set)."""
    return MONTHS[language][month - 1]


def cohorts_section(r: ReportData) -> dict[str, Any]:
    """Retention heatmap (complete periods only) and the January vs July comparison."""
    t, f = r.t, r.f
    ret = data.retention(r.con)
    retention_chart = None
    if not ret.empty:
        ret = ret[ret["period_index"] <= 24]
        rates = {
            (str(x.cohort), int(x.period_index)): float(x.retention_rate) for x in ret.itertuples()
        }
        cohorts = sorted({k[0] for k in rates})
        periods = sorted({k[1] for k in rates})
        # Period 0 is 100% by construction: scale colours on later periods to keep contrast.
        later = [v for (_, p), v in rates.items() if p > 0]
        vmax = max(later, default=1.0) or 1.0

        def ratio(c: str, p: str) -> float | None:
            v = rates.get((c, int(p)))
            return None if v is None else min(v / vmax, 1.0)

        def text(c: str, p: str) -> list[str]:
            v = rates.get((c, int(p)))
            return [] if v is None else [f.number(v * 100, 0)]

        retention_chart = Markup(
            svg.heatmap(
                "cohort-retention",
                t["retention_caption"],
                cohorts,
                [str(p) for p in periods],
                ratio,
                text,
                t["period"],
                t["cohort"],
                cell_w=30,
                cell_h=20,
                label_w=80,
            )
        )
    horizons, season = data.season_comparison(r.con)
    season_chart = None
    season_rows: list[dict[str, Any]] = []
    if not season.empty and horizons:
        series = [
            (
                month_name(int(row.acquisition_month), r.language),
                [num(getattr(row, f"clv_{h}m")) for h in horizons],
            )
            for row in season.itertuples()
        ]
        groups = [f"{t['clv_at']} {h} {t['months']}" for h in horizons]
        season_chart = Markup(
            svg.grouped_bars("season-clv", t["season_caption"], groups, series, f.money)
        )
        for row in season.to_dict("records"):
            cells = []
            for h in horizons:
                cells.append(
                    {
                        "horizon": h,
                        "customers": int(row.get(f"customers_{h}m") or 0),
                        "clv": num(row.get(f"clv_{h}m")),
                        "orders_per_customer": num(row.get(f"orders_per_customer_{h}m")),
                        "promo_share": num(row.get(f"promo_order_share_{h}m")),
                        "avg_discount": num(row.get(f"avg_discount_{h}m")),
                    }
                )
            season_rows.append(
                {
                    "month": int(row["acquisition_month"]),
                    "label": month_name(int(row["acquisition_month"]), r.language),
                    "customers": int(row["customers"]),
                    "cells": cells,
                }
            )
    return {
        "retention_chart": retention_chart,
        "season_chart": season_chart,
        "season_rows": season_rows,
        "horizons": horizons,
    }


def migrations_section(r: ReportData) -> dict[str, Any]:
    """From-segment (rows) x to-segment (columns), row-normalised colours."""
    moves = data.transitions(r.con, r.as_of, r.previous_as_of)
    if moves.empty:
        return {"chart": None, "moves_from": None}
    t, f = r.t, r.f
    new, lost = t["new"], t["lost"]
    counts: dict[tuple[str, str], int] = {}
    for m in moves.itertuples():
        # NULL from/to segments are customers entering or leaving the scored base.
        src = new if pd.isna(m.from_segment) else r.segment_label(m.from_segment)
        dst = lost if pd.isna(m.to_segment) else r.segment_label(m.to_segment)
        counts[(src, dst)] = counts.get((src, dst), 0) + int(m.customers or 0)
    ordered = [s.label for s in r.segments]
    extra = sorted(({k[0] for k in counts} | {k[1] for k in counts}) - set(ordered) - {new, lost})
    rows = [x for x in [*ordered, *extra] if any(k[0] == x for k in counts)]
    if any(k[0] == new for k in counts):
        rows.append(new)
    cols = [x for x in [*ordered, *extra] if any(k[1] == x for k in counts)]
    if any(k[1] == lost for k in counts):
        cols.append(lost)
    totals = {row: sum(v for k, v in counts.items() if k[0] == row) or 1 for row in rows}

    def ratio(row: str, col: str) -> float | None:
        v = counts.get((row, col))
        return None if v is None else v / totals[row]

    def text(row: str, col: str) -> list[str]:
        v = counts.get((row, col))
        return [] if v is None else [f.number(v)]

    chart = svg.heatmap(
        "segment-migrations",
        t["migration_caption"],
        rows,
        cols,
        ratio,
        text,
        t["to"],
        t["from"],
        cell_w=70,
        cell_h=28,
        label_w=150,
        rotate_cols=True,
    )
    return {"chart": Markup(chart), "moves_from": r.previous_as_of}


#: UI string of each KPI column.
KPI_LABELS = {
    "nps": "nps",
    "churn_rate": "churn_rate",
    "return_rate": "return_rate",
    "tickets_per_customer": "tickets",
}


def kpis_section(r: ReportData) -> dict[str, Any]:
    """Per segment, each KPI's current value and a sparkline over refreshes."""
    kpi_df = data.kpis(r.con)
    history = data.kpi_trends(r.con, r.as_of)
    f = r.f
    fmt = {
        "churn_rate": f.pct,
        "return_rate": f.pct,
        "tickets_per_customer": lambda v: f.number(v, 2),
    }
    current = {str(row["segment"]): row for _, row in kpi_df.iterrows()}
    rows = []
    for p in r.personas:
        hist = history[history["segment"] == p.segment.code] if not history.empty else history
        row = current.get(p.segment.code)
        cells = []
        for metric in data.KPI_METRICS:
            now = num(row.get(metric)) if row is not None else None
            if metric == "nps":
                reliable = bool(row.get("is_nps_reliable")) if row is not None else False
                responses = int(row.get("nps_responses") or 0) if row is not None else 0
                text = nps_text(now, responses, reliable, r)
            else:
                text = fmt[metric](now)
            values = [num(v) for v in hist[metric]] if metric in hist else []
            cells.append(
                {
                    "metric": metric,
                    "text": text,
                    "spark": Markup(
                        svg.sparkline(
                            f"kpi-{metric}-{p.segment.code}",
                            f"{p.segment.label} · {r.t[KPI_LABELS[metric]]}",
                            values,
                        )
                    ),
                }
            )
        rows.append({"label": p.segment.label, "code": p.segment.code, "cells": cells})
    return {"rows": rows}


def campaigns_section(r: ReportData) -> dict[str, Any]:
    """Campaign results (attribution window) and the cost per acquisition per channel."""
    results = data.campaigns(r.con)
    costs = data.acquisition_costs(r.con)
    campaigns = [
        {
            "id": row.campaign_id,
            "contacts": int(row.contacts),
            "contacted": int(row.contacted_customers),
            "converted": int(row.converted_customers),
            "rate": num(row.conversion_rate),
            "revenue": num(row.revenue),
            "cost": num(row.cost),
            "cost_per_conversion": num(row.cost_per_conversion),
            "window_days": int(row.attribution_window_days),
            "complete": bool(row.is_window_complete),
        }
        for row in results.itertuples()
    ]
    months: list[str] = []
    channels: list[str] = []
    cac: dict[tuple[str, str], dict[str, Any]] = {}
    for row in costs.itertuples():
        month = pd.Timestamp(row.acquisition_month).strftime("%Y-%m")
        channel = str(row.acquisition_channel)
        if month not in months:
            months.append(month)
        if channel not in channels:
            channels.append(channel)
        cac[(month, channel)] = {
            "spend": num(row.spend),
            "new": int(row.new_customers),
            "cac": num(row.cac),
        }
    channels = sorted(channels, key=lambda c: (c == OVERALL, c))
    return {
        "campaigns": campaigns,
        "months": months,
        "channels": [(c, r.codes.code("channel", c)) for c in channels],
        "cac": cac,
    }


def exclusions_section(r: ReportData) -> dict[str, Any]:
    """Distinct excluded customers, revenue at stake and customers per reason."""
    excl = data.exclusions(r.con)
    excl["reasons"] = [(code, r.codes.code("reason", code), n) for code, n in excl["reasons"]]
    return {"excl": excl}


def personas_section(r: ReportData) -> dict[str, Any]:
    """One sheet per segment from segment_personas and its breakdowns, themes and products."""
    return {"personas": r.personas, "attributes": data.PERSONA_ATTRIBUTES}


def priority_section(r: ReportData) -> dict[str, Any]:
    """The pertinence x impact grid of segment_priority and the order to act in."""
    grid = data.priorities(r.con)
    rows = []
    points = []
    for row in grid.itertuples():
        trend = r.trends.get(str(row.segment))
        entry = {
            "code": row.segment,
            "rank": int(row.priority_rank),
            "label": r.segment_label(row.segment),
            "cell": row.grid_cell,
            "cell_label": r.codes.code("grid_cell", row.grid_cell),
            "customers": int(row.customers),
            "impact": num(row.impact_index),
            "pertinence": num(row.pertinence),
            "score": num(row.priority_score),
            "trend": trend,
        }
        rows.append(entry)
        if entry["customers"] > 0:
            points.append(
                {
                    "label": entry["label"],
                    "x": entry["impact"] or 0.0,
                    "y": entry["pertinence"] or 0.0,
                    "size": entry["customers"],
                    "color": TREND_COLORS[trend_label(trend)],
                }
            )
    quadrants = {
        "top_right": r.codes.code("grid_cell", "act_first"),
        "top_left": r.codes.code("grid_cell", "nurture"),
        "bottom_right": r.codes.code("grid_cell", "maintain"),
        "bottom_left": r.codes.code("grid_cell", "low_cost"),
    }
    chart = svg.bubble_chart(
        "priority-grid",
        r.t["priority_grid_caption"],
        points,
        r.t["impact"],
        r.t["pertinence"],
        quadrants=quadrants,
    )
    return {"chart": Markup(chart), "rows": rows}


def outlook_section(r: ReportData) -> dict[str, Any] | None:
    """Predicted revenue per segment, churn risk, behaviour clusters and their drift (the
    predictions domain's marts, see `outlook.py`); None before the predictions ran."""
    return outlook.section_context(r.con, r.language, r.f, r.segment_label, r.codes)


SECTIONS: list[Section] = [
    Section("headline", "sec_headline", "sections/headline.html.j2", headline_section),
    Section("segments", "sec_segments", "sections/segments.html.j2", segments_section),
    Section("rf-grid", "sec_rf_grid", "sections/rf_grid.html.j2", rf_grid_section),
    Section("cohorts", "sec_cohorts", "sections/cohorts.html.j2", cohorts_section),
    Section("migrations", "sec_migrations", "sections/migrations.html.j2", migrations_section),
    Section("kpis", "sec_kpis", "sections/kpis.html.j2", kpis_section),
    Section("campaigns", "sec_campaigns", "sections/campaigns.html.j2", campaigns_section),
    Section("exclusions", "sec_exclusions", "sections/exclusions.html.j2", exclusions_section),
    Section("personas", "sec_personas", "sections/personas.html.j2", personas_section),
    Section("priority", "sec_priority", "sections/priority.html.j2", priority_section),
    Section("outlook", "sec_outlook", "sections/outlook.html.j2", outlook_section),
]


def load_report_data(con: duckdb.DuckDBPyConnection, language: str, currency: str) -> ReportData:
    """The lookups every section shares, read once."""
    t = strings(language)
    codes = Translator(language)
    as_of = data.report_as_of(con)
    segments = data.load_segments(con, language)
    refreshes = data.kpi_refreshes(con, as_of)
    previous = data.previous_refresh(refreshes, as_of)
    trends = data.segment_trends(con, previous)
    return ReportData(
        con=con,
        language=language,
        t=t,
        f=Formatter(language, currency),
        codes=codes,
        as_of=as_of,
        segments=segments,
        labels={s.code: s.label for s in segments},
        refreshes=refreshes,
        previous_as_of=previous,
        trends=trends,
        personas=data.personas(con, segments, trends),
    )


def _trigger_line(reason: RunReason | None, r: ReportData) -> dict | None:
    """The header's "triggered by" line: the kind in the report's language, then the measured
    move (`NPS Ensemble des clients 40 -> 12, threshold 10`, metric and segment translated) or
    the trigger's own words."""
    if reason is None:
        return None
    t, f = r.t, r.f
    label = t.get(f"trigger_{reason.kind}", reason.kind)
    if reason.metric and reason.before is not None and reason.after is not None:
        percent = reason.metric.endswith("_rate")
        value = f.pct if percent else f.number
        metric = t.get(KPI_LABELS.get(reason.metric, reason.metric), reason.metric)
        segment = r.segment_label(reason.segment) if reason.segment else ""
        detail = (
            f"{metric} {segment} {value(reason.before, 1)} → {value(reason.after, 1)}"
        ).replace("  ", " ")
        if reason.threshold is not None:
            threshold = f.pct(reason.threshold, 1) if percent else f.number(reason.threshold, 1)
            detail += f" ({t['trigger_threshold']} {threshold})"
    else:
        detail = reason.summary
    return {"kind": reason.kind, "label": label, "detail": detail, "summary": reason.summary}


def build_report(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    language: str = DEFAULT_LANGUAGE,
    currency: str = "EUR",
    generated_at: dt.datetime | None = None,
    sections: list[Section] | None = None,
    reason: RunReason | None = None,
) -> ReportResult:
    """Render the report of the refresh held in the warehouse and write it under `out_dir`.

    `reason` (why the refresh ran: trigger kind, KPI move and threshold) goes in the header.

    Writes `insight_report_<as_of>.html` and replaces `latest.html` atomically (temp file +
    rename), so a reader never sees a half-written report.
    """
    r = load_report_data(con, language, currency)
    rendered = []
    for section in sections or SECTIONS:
        ctx = section.build(r)
        if ctx is None:  # nothing to show (e.g. no prediction marts in this warehouse)
            continue
        rendered.append(
            {
                "id": section.id,
                "title": r.t[section.title],
                "template": section.template,
                "ctx": ctx,
            }
        )
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            t=r.t,
            f=r.f,
            codes=r.codes,
            lang=language,
            as_of=r.as_of,
            generated_at=(generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC"),
            trigger=_trigger_line(reason, r),
            sections=rendered,
            trend_label=trend_label,
            attr=_attr,
            nps=lambda value, n, ok: nps_text(value, n, ok, r),
            segment_label=r.segment_label,
        )
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"insight_report_{r.as_of.isoformat()}.html"
    latest = out_dir / "latest.html"
    _atomic_write(path, html)
    _atomic_copy(path, latest)
    return ReportResult(
        path=path,
        latest=latest,
        as_of=r.as_of,
        language=language,
        size_bytes=path.stat().st_size,
        segments=len(r.personas),
        customers=sum(p.customers for p in r.personas),
        refreshes_in_history=len(r.refreshes),
    )


def _atomic_write(path: Path, text: str) -> None:
    """Write a file through a temp file in the same folder and rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp creates 0600 files: reports are meant to be shared and read by other users.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_copy(src: Path, dst: Path) -> None:
    """Copy a file over another atomically (temp copy + rename)."""
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
