"""Build the insight report: query the warehouse, draw SVG charts, render one offline HTML file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pandas as pd
from markupsafe import Markup

from pipeline.lib.reasons import RunReason
from pipeline.report import data, outlook, svg
from pipeline.report.i18n import DEFAULT_LANGUAGE, Formatter, strings

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


def _headline_cards(head: dict[str, Any], t: dict[str, str], f: Formatter) -> list[dict]:
    """Section 1: one card per overall KPI with its change since the previous refresh.

    Rates change in percentage points; counts and amounts show absolute and relative change.
    """
    cards = []
    for metric, (key, kind, decimals) in HEADLINE.items():
        now = head["now"].get(metric)
        prev = (head["previous"] or {}).get(metric)
        value = {"money": f.money, "pct": f.pct}.get(kind, f.number)(now, decimals)
        delta = None
        if now is not None and prev is not None:
            if kind == "pct":
                delta = f.signed(now - prev, decimals, percent=True)
            else:
                delta = f.signed(now - prev, decimals)
                if prev and (kind == "money" or metric == "customers"):
                    delta += f" ({f.signed((now - prev) / prev, 1, percent=True)})"
        cards.append(
            {"metric": metric, "label": t[key], "value": value, "delta": delta, "raw": now}
        )
    return cards


def _segment_charts(dist: Any, labels: dict[str, str], t: dict[str, str], f: Formatter) -> list:
    """Section 2: customer share and revenue share bars per segment."""
    customers = [
        (
            labels.get(r.segment, r.segment),
            float(r.share),
            f"{f.number(int(r.customers))} · {f.pct(float(r.share))}",
        )
        for r in dist.itertuples()
    ]
    revenue = [
        (
            labels.get(r.segment, r.segment),
            float(r.revenue_share or 0),
            f"{f.money(r.revenue)} · {f.pct(float(r.revenue_share or 0))}",
        )
        for r in dist.itertuples()
    ]
    return [
        Markup(
            svg.hbar_chart(
                "segment-customers", t["customer_share_chart"], customers, svg.color_for(0)
            )
        ),
        Markup(
            svg.hbar_chart("segment-revenue", t["revenue_share_chart"], revenue, svg.color_for(1))
        ),
    ]


def _rf_chart(grid: Any, t: dict[str, str], f: Formatter) -> Markup:
    """Section 3: R (rows, best on top) x F (columns) with count and average monetary."""
    cells = {(int(r.r_score), int(r.f_score)): r for r in grid.itertuples()}
    top = max([*(k[0] for k in cells), *(k[1] for k in cells), 1])
    vmax = max((float(r.avg_monetary or 0) for r in cells.values()), default=0) or 1.0
    rows = [str(i) for i in range(top, 0, -1)]
    cols = [str(i) for i in range(1, top + 1)]

    def ratio(r: str, c: str) -> float | None:
        cell = cells.get((int(r), int(c)))
        return None if cell is None else float(cell.avg_monetary or 0) / vmax

    def text(r: str, c: str) -> list[str]:
        cell = cells.get((int(r), int(c)))
        if cell is None:
            return ["0"]
        return [f.number(int(cell.customers)), f.money(cell.avg_monetary)]

    return Markup(
        svg.heatmap(
            "rf-grid",
            t["s3"],
            rows,
            cols,
            ratio,
            text,
            t["frequency_score"],
            t["recency_score"],
            cell_w=84,
            cell_h=44,
            label_w=30,
        )
    )


def _retention_chart(ret: Any, t: dict[str, str], f: Formatter) -> Markup | None:
    """Section 4: cohort x period retention heatmap (periods capped at 24 for width)."""
    if ret.empty:
        return None
    ret = ret[ret["period_index"] <= 24]
    rates = {
        (str(r.cohort), int(r.period_index)): float(r.retention_rate) for r in ret.itertuples()
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

    return Markup(
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


def _season_chart(
    horizons: list[int], season: Any, t: dict[str, str], f: Formatter, language: str
) -> Markup | None:
    """Section 4: January vs July cohorts, CLV at each horizon."""
    if season.empty or not horizons:
        return None
    series = [
        (
            month_name(int(row.acquisition_month), language),
            [data._num(getattr(row, f"clv_{h}m")) for h in horizons],
        )
        for row in season.itertuples()
    ]
    groups = [f"{t['clv_at']} {h} {t['months']}" for h in horizons]
    return Markup(
        svg.grouped_bars("season-clv", t["season_caption"], groups, series, lambda v: f.money(v))
    )


def _migration_chart(
    moves: Any, labels: dict[str, str], order: list[str], t: dict[str, str], f: Formatter
) -> Markup | None:
    """Section 5: from-segment (rows) x to-segment (columns), row-normalised colours."""
    if moves.empty:
        return None
    new, lost = t["new"], t["lost"]
    counts: dict[tuple[str, str], int] = {}
    for r in moves.itertuples():
        # NULL from/to segments are customers entering or leaving the scored base.
        src = new if pd.isna(r.from_segment) else labels.get(r.from_segment, r.from_segment)
        dst = lost if pd.isna(r.to_segment) else labels.get(r.to_segment, r.to_segment)
        counts[(src, dst)] = counts.get((src, dst), 0) + int(r.customers or 0)
    ordered = [labels.get(s, s) for s in order]
    extra = sorted(({k[0] for k in counts} | {k[1] for k in counts}) - set(ordered) - {new, lost})
    rows = [x for x in [*ordered, *extra] if any(k[0] == x for k in counts)]
    if any(k[0] == new for k in counts):
        rows.append(new)
    cols = [x for x in [*ordered, *extra] if any(k[1] == x for k in counts)]
    if any(k[1] == lost for k in counts):
        cols.append(lost)
    totals = {r: sum(v for k, v in counts.items() if k[0] == r) or 1 for r in rows}

    def ratio(r: str, c: str) -> float | None:
        v = counts.get((r, c))
        return None if v is None else v / totals[r]

    def text(r: str, c: str) -> list[str]:
        v = counts.get((r, c))
        return [] if v is None else [f.number(v)]

    return Markup(
        svg.heatmap(
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
    )


def _kpi_rows(
    kpi_df: Any, history: Any, personas: list[data.Persona], t: dict[str, str], f: Formatter
) -> list[dict[str, Any]]:
    """Section 6: per segment, each KPI's current value and a sparkline over refreshes."""
    fmt = {
        "nps": lambda v: f.number(v, 0),
        "churn_rate": f.pct,
        "return_rate": f.pct,
        "tickets_per_customer": lambda v: f.number(v, 2),
    }
    current = {str(r["segment"]): r for _, r in kpi_df.iterrows()} if not kpi_df.empty else {}
    rows = []
    for p in personas:
        hist = history[history["segment"] == p.segment.code] if not history.empty else history
        cells = []
        for metric in data.KPI_METRICS:
            now = (
                data._num(current[p.segment.code].get(metric))
                if p.segment.code in current
                else None
            )
            values = [data._num(v) for v in hist[metric]] if metric in hist else []
            cells.append(
                {
                    "metric": metric,
                    "text": fmt[metric](now),
                    "spark": Markup(
                        svg.sparkline(
                            f"kpi-{metric}-{p.segment.code}",
                            f"{p.segment.label} · {metric}",
                            values,
                        )
                    ),
                }
            )
        rows.append({"label": p.segment.label, "code": p.segment.code, "cells": cells})
    return rows


def _priority_chart(personas: list[data.Persona], t: dict[str, str]) -> Markup:
    """Section 9: size x value bubbles, area = revenue, colour = trend."""
    points = [
        {
            "label": p.segment.label,
            "x": p.share,
            "y": p.avg_monetary,
            "size": p.revenue,
            "color": TREND_COLORS[trend_label(p.trend)],
        }
        for p in personas
    ]
    return Markup(
        svg.bubble_chart("priority-grid", t["priority_caption"], points, t["share"], t["value"])
    )


def _trigger_line(reason: RunReason | None, t: dict[str, str], f: Formatter) -> dict | None:
    """The header's "triggered by" line: the kind in the report's language, then the measured
    move (`nps All 40 -> 12, threshold 10`) or the trigger's own words."""
    if reason is None:
        return None
    label = t.get(f"trigger_{reason.kind}", reason.kind)
    if reason.metric and reason.before is not None and reason.after is not None:
        percent = reason.metric.endswith("_rate")
        value = f.pct if percent else f.number
        detail = (
            f"{reason.metric} {reason.segment} {value(reason.before, 1)} → {value(reason.after, 1)}"
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
    reason: RunReason | None = None,
) -> ReportResult:
    """Render the report of the refresh held in the warehouse and write it under `out_dir`.

    `reason` (why the refresh ran: trigger kind, KPI move and threshold) goes in the header.

    Writes `insight_report_<as_of>.html` and replaces `latest.html` atomically (temp file +
    rename), so a reader never sees a half-written report.
    """
    t = strings(language)
    f = Formatter(language, currency)
    as_of = data.report_as_of(con)
    segments = data.load_segments(con, language)
    labels = {s.code: s.label for s in segments}
    refreshes = data.kpi_refreshes(con, as_of)
    dist = data.segment_distribution(con)
    personas = data.personas(con, segments, as_of, refreshes)
    head = data.headline(con, as_of)
    horizons, season = data.season_comparison(con)
    moves_from, moves = data.transitions(con, as_of)
    kpi_df = (
        data.kpis(con)
        if data.table_exists(con, "marts", "segment_kpis")
        else pd.DataFrame(columns=["segment", *data.KPI_METRICS])
    )
    excl = data.exclusions(con)
    context = {
        "t": t,
        "f": f,
        "lang": language,
        "as_of": as_of,
        "generated_at": (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "trigger": _trigger_line(reason, t, f),
        "head": head,
        "cards": _headline_cards(head, t, f),
        "segment_charts": _segment_charts(dist, labels, t, f),
        "dist": [
            {
                "label": labels.get(r.segment, r.segment),
                "customers": int(r.customers),
                "share": float(r.share),
                "revenue": data._num(r.revenue),
                "revenue_share": data._num(r.revenue_share),
            }
            for r in dist.itertuples()
        ],
        "rf_chart": _rf_chart(data.rf_grid(con), t, f),
        "retention_chart": _retention_chart(data.retention(con), t, f)
        if data.table_exists(con, "marts", "cohort_retention")
        else None,
        "season_chart": _season_chart(horizons, season, t, f, language),
        "season_rows": [
            r | {"label": month_name(int(r["acquisition_month"]), language)}
            for r in season.to_dict("records")
        ]
        if not season.empty
        else [],
        "horizons": horizons,
        "moves_from": moves_from,
        "migration_chart": _migration_chart(moves, labels, [s.code for s in segments], t, f),
        "kpi_rows": _kpi_rows(kpi_df, data.kpi_trends(con, as_of), personas, t, f),
        "excl": excl,
        "personas": personas,
        "priority_chart": _priority_chart(personas, t),
        "priorities": sorted(personas, key=lambda p: -p.act_score),
        "trend_label": trend_label,
        "attr": _attr,
        # Predictions, churn risk, clusters and drift: a self-contained section (outlook.py).
        "outlook": outlook.render_section(con, labels, language, currency),
    }
    html = _environment().get_template("report.html.j2").render(**context)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"insight_report_{as_of.isoformat()}.html"
    latest = out_dir / "latest.html"
    _atomic_write(path, html)
    _atomic_copy(path, latest)
    return ReportResult(
        path=path,
        latest=latest,
        as_of=as_of,
        language=language,
        size_bytes=path.stat().st_size,
        segments=len(personas),
        customers=sum(p.customers for p in personas),
        refreshes_in_history=len(refreshes),
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
