"""The insight report of a real demo refresh: persona numbers equal independent computations,
every figure comes from the marts, NPS shows its answers, no personal data, both languages."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from report_helpers import PREVIOUS_AS_OF, add_previous_refresh, copy_warehouse

from pipeline.report.render import build_report
from pipeline.segments.distribution import segment_distribution_markdown

pytestmark = [pytest.mark.integration]
MAX_BYTES = 3 * 1024 * 1024
GENERATED = dt.datetime(2026, 10, 1, 6, 0, tzinfo=dt.UTC)


class _Collector(HTMLParser):
    """Collects every tag's attributes (persona sheets, src/href references)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def _tags(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Collector()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def warehouse(refreshed: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo refresh's warehouse (copied) with a previous refresh added to history."""
    path = copy_warehouse(refreshed, tmp_path_factory.mktemp("report") / "warehouse.duckdb")
    add_previous_refresh(path)
    return path


@pytest.fixture(scope="module")
def report(warehouse: Path, tmp_path_factory: pytest.TempPathFactory):
    """The French report of that warehouse."""
    out = tmp_path_factory.mktemp("reports")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return build_report(con, out, language="fr", generated_at=GENERATED)


def _expected_personas(warehouse: Path) -> pd.DataFrame:
    """Persona numbers recomputed with pandas from customer-level tables (not the marts'
    aggregates): sizes, revenue, medians, and the top known region and category."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rfm = con.execute("select * from marts.customer_rfm").df()
        prefs = con.execute("select * from marts.customer_preferences").df()
        ident = con.execute("select customer_id, region from identity.customers").df()
    for col in ("monetary", "avg_basket"):
        rfm[col] = rfm[col].astype(float)
    merged = rfm.merge(prefs, on="customer_id", how="left").merge(
        ident, on="customer_id", how="left"
    )

    def top(series: pd.Series) -> str:
        counts = series.dropna().value_counts()
        if counts.empty or counts.max() < 10:  # persona_min_customers: smaller cells are hidden
            return ""
        best = counts[counts == counts.max()].index
        return sorted(best)[0]

    return merged.groupby("segment").agg(
        customers=("customer_id", "count"),
        revenue=("monetary", "sum"),
        median_recency=("recency_days", "median"),
        median_frequency=("frequency", "median"),
        median_basket=("avg_basket", "median"),
        top_category=("favourite_category", top),
        top_region=("region", top),
    )


def _sheets(html: str) -> dict[str, dict[str, str]]:
    return {
        a["data-segment"]: a
        for tag, a in _tags(html)
        if tag == "article" and "persona" in a.get("class", "")
    }


def test_persona_numbers_equal_an_independent_computation(warehouse: Path, report) -> None:
    """Each persona sheet's data attributes match pandas over the customer-level tables."""
    sheets = _sheets(report.path.read_text(encoding="utf-8"))
    expected = _expected_personas(warehouse)
    assert set(sheets) == set(expected.index)
    for segment, row in expected.iterrows():
        sheet = sheets[segment]
        assert int(sheet["data-customers"]) == row["customers"], segment
        assert float(sheet["data-revenue"]) == pytest.approx(row["revenue"], abs=0.01)
        if sheet["data-suppressed"] == "true":
            assert row["customers"] < 10 and sheet["data-median-recency"] == ""
            continue
        assert float(sheet["data-median-recency"]) == pytest.approx(row["median_recency"])
        assert float(sheet["data-median-frequency"]) == pytest.approx(row["median_frequency"])
        assert float(sheet["data-median-basket"]) == pytest.approx(row["median_basket"], abs=1e-4)
        assert sheet["data-top-category"] == row["top_category"], segment
        assert sheet["data-top-region"] == row["top_region"], segment
    assert report.customers == int(expected["customers"].sum())


def test_every_figure_comes_from_the_marts(warehouse: Path, report) -> None:
    """Distribution, exclusions, campaigns, priority and star products are the marts' rows."""
    html = report.path.read_text(encoding="utf-8")
    tags = _tags(html)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kpis = dict(
            con.execute(
                "select segment, customers from marts.segment_kpis "
                "where segment <> 'All' and customers > 0"
            ).fetchall()
        )
        excluded, at_stake = con.execute(
            "select count(distinct customer_id), sum(m) from (select customer_id, "
            "max(monetary) as m from marts.campaign_exclusions group by customer_id)"
        ).fetchone()
        reasons = dict(
            con.execute(
                "select reason, count(distinct customer_id) from marts.campaign_exclusions "
                "group by reason"
            ).fetchall()
        )
        campaigns = dict(
            con.execute(
                "select campaign_id, converted_customers from marts.segment_campaign_kpis "
                "where segment = 'All'"
            ).fetchall()
        )
        ranks = dict(
            con.execute("select segment, priority_rank from marts.segment_priority").fetchall()
        )
        champions_top = con.execute(
            "select item from marts.segment_star_products where segment = 'Champions' "
            "and level = 'product' and revenue_rank = 1"
        ).fetchone()
    shown = {
        a["data-segment"]: int(a["data-customers"])
        for t, a in tags
        if t == "tr" and "data-customers" in a and "data-segment" in a
    }
    assert shown == kpis
    cards = {
        a["data-metric"]: a["data-value"] for t, a in tags if t == "div" and "data-metric" in a
    }
    assert int(cards["excluded_customers"]) == excluded
    assert float(cards["revenue_at_stake"]) == pytest.approx(float(at_stake), abs=0.01)
    assert {
        a["data-reason"]: int(a["data-customers"]) for t, a in tags if "data-reason" in a
    } == reasons
    assert {
        a["data-campaign"]: int(a["data-converted"]) for t, a in tags if "data-campaign" in a
    } == campaigns
    assert {a["data-segment"]: int(a["data-rank"]) for t, a in tags if "data-rank" in a} == ranks
    assert _sheets(html)["Champions"]["data-top-product"] == champions_top[0]
    # Codes are translated: reason codes only in attributes, French labels on screen.
    assert "Achat unique en promotion" in html and ">one_time_promo_buyer<" not in html
    assert "Lost" not in re.sub(r'data-[a-z-]+="[^"]*"', "", html).replace("Lost segment", "")


def test_changes_trends_and_migrations_use_the_previous_refresh(report) -> None:
    """With an earlier refresh in history: changes since then, trends and migrations."""
    html = report.path.read_text(encoding="utf-8")
    assert 'data-first-refresh="true"' not in html
    assert f"depuis le {PREVIOUS_AS_OF.isoformat()}" in html
    assert 'data-chart="segment-migrations"' in html
    priorities = {a["data-segment"]: a for t, a in _tags(html) if "data-rank" in a}
    assert priorities["Lost"]["data-cell"] == "excluded"
    # Champions were 20% fewer before: growing; Lost 25% more: shrinking.
    for segment, trend in (("Champions", "trend-growing"), ("Lost", "trend-shrinking")):
        row = re.search(rf'<tr data-segment="{segment}" data-rank=[^>]*>(.*?)</tr>', html, re.S)
        assert row and trend in row.group(1), segment


def test_nps_shows_its_answers_and_hides_unreliable_values(warehouse: Path, report) -> None:
    html = report.path.read_text(encoding="utf-8")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select segment, nps, nps_responses, is_nps_reliable from marts.segment_kpis "
            "where segment <> 'All' and customers > 0"
        ).fetchall()
    reliable = [r for r in rows if r[3]]
    unreliable = [r for r in rows if not r[3] and r[2] > 0]
    assert reliable and unreliable, rows
    for segment, nps, n, _ in reliable:
        assert f"{nps:.0f} (n\u00a0=\u00a0{n})" in html, segment
    for segment, _, n, _ in unreliable:
        assert f"– (n\u00a0=\u00a0{n}, trop peu de réponses)" in html, segment


def test_the_partial_cohort_period_is_left_out(warehouse: Path, report) -> None:
    """The as-of month (1 day old) is not drawn: the newest cohort shows period 0 only."""
    html = report.path.read_text(encoding="utf-8")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        partial = con.execute(
            "select cast(cohort as varchar), period_index from marts.cohort_retention "
            "where is_partial_period"
        ).fetchall()
    assert len(partial) > 20
    for cohort, period in partial:
        # The cell of a partial period is empty (or absent): no retention figure.
        assert not re.search(rf"<title>{cohort} / {period}: \d", html), (cohort, period)
    assert re.search(r"<title>2026-08-01 / 1: \d+</title>", html)  # a complete one is drawn


def test_report_is_offline_small_and_free_of_personal_data(warehouse: Path, report) -> None:
    """No network reference, no script, under 3 MB, and none of the demo's names, e-mails or
    phone numbers."""
    html = report.path.read_text(encoding="utf-8")
    assert report.size_bytes < MAX_BYTES
    for tag, attrs in _tags(html):
        assert tag not in ("script", "link", "iframe", "img"), tag
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name, "")
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert "url(" not in html
    with duckdb.connect(str(warehouse), read_only=True) as con:
        people = con.execute(
            "select email, phone, last_name from identity.customers where email is not null "
            "limit 300"
        ).fetchall()
    for email, phone, last_name in people:
        assert email not in html
        assert not phone or phone not in html
        assert f" {last_name} " not in html


def test_first_refresh_and_english(refreshed: dict, tmp_path: Path) -> None:
    """With one refresh in history the report says so; English labels and codes."""
    copy = copy_warehouse(refreshed, tmp_path / "wh.duckdb")
    with duckdb.connect(str(copy), read_only=True) as con:
        result = build_report(con, tmp_path / "out", language="en", generated_at=GENERATED)
    html = result.path.read_text(encoding="utf-8")
    assert html.count('data-first-refresh="true"') == 2  # headline changes and migrations
    assert "First refresh" in html and "Can&#39;t Lose Them" in html
    assert 'lang="en"' in html and "One-time promotion buyer" in html


def test_unknown_language_is_rejected(warehouse: Path, tmp_path: Path) -> None:
    """A typo in the language fails loudly instead of producing a mixed-language report."""
    with duckdb.connect(str(warehouse), read_only=True) as con, pytest.raises(ValueError):
        build_report(con, tmp_path, language="de")


def test_segment_distribution_markdown(warehouse: Path) -> None:
    """The markdown table lists every segment with customers, and the total."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        md = segment_distribution_markdown(con)
        counts = dict(
            con.execute(
                "select segment, count(*) from marts.customer_rfm group by segment"
            ).fetchall()
        )
    lines = md.splitlines()
    assert lines[0] == "| segment | customers | share | revenue |"
    rows = {
        cells[1].strip(): cells[2].strip() for cells in (line.split("|") for line in lines[2:-1])
    }
    assert {k: int(v.replace(",", "")) for k, v in rows.items()} == counts
    assert lines[-1].startswith(f"| **total** | {sum(counts.values()):,} |")
