"""The insight report's content: persona numbers equal the tables, offline, small, no PII."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_report_standin import AS_OF, PII_MARKERS, PREVIOUS_AS_OF, build_standin_warehouse

from pipeline.report.data import segment_distribution_markdown
from pipeline.report.render import build_report

MAX_BYTES = 3 * 1024 * 1024


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
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in warehouse with two refreshes in history."""
    return build_standin_warehouse(tmp_path_factory.mktemp("report") / "wh.duckdb")


@pytest.fixture(scope="module")
def report(warehouse: Path, tmp_path_factory: pytest.TempPathFactory):
    """The French report of the stand-in warehouse."""
    out = tmp_path_factory.mktemp("reports")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return build_report(
            con, out, language="fr", generated_at=dt.datetime(2026, 10, 1, 6, 0, tzinfo=dt.UTC)
        )


def _expected_personas(warehouse: Path) -> pd.DataFrame:
    """Persona numbers recomputed with pandas straight from the tables (not the report's SQL)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rfm = con.execute("select * from marts.customer_rfm").df()
        prefs = con.execute("select * from marts.customer_preferences").df()
        kpis = con.execute("select segment, nps from marts.segment_kpis").df()
        ident = con.execute("select customer_id, region from identity.customers").df()
    for col in ("monetary", "avg_basket"):
        rfm[col] = rfm[col].astype(float)
    merged = rfm.merge(prefs, on="customer_id", how="left").merge(
        ident, on="customer_id", how="left"
    )

    def top(series: pd.Series) -> str:
        counts = series.dropna().value_counts()
        best = counts[counts == counts.max()].index
        return sorted(best)[0]

    out = merged.groupby("segment").agg(
        customers=("customer_id", "count"),
        revenue=("monetary", "sum"),
        median_recency=("recency_days", "median"),
        median_frequency=("frequency", "median"),
        median_basket=("avg_basket", "median"),
        top_category=("favourite_category", top),
        top_channel=("favourite_channel", top),
        top_region=("region", top),
    )
    return out.join(kpis.set_index("segment"))


def test_persona_numbers_equal_the_tables(warehouse: Path, report) -> None:
    """Each persona sheet's data attributes match numbers recomputed from the warehouse."""
    html = report.path.read_text(encoding="utf-8")
    sheets = {
        a["data-segment"]: a
        for tag, a in _tags(html)
        if tag == "article" and "persona" in a.get("class", "")
    }
    expected = _expected_personas(warehouse)
    assert set(sheets) == set(expected.index)
    for segment, row in expected.iterrows():
        sheet = sheets[segment]
        assert int(sheet["data-customers"]) == row["customers"], segment
        assert float(sheet["data-revenue"]) == pytest.approx(row["revenue"], abs=0.01)
        assert float(sheet["data-median-recency"]) == pytest.approx(row["median_recency"])
        assert float(sheet["data-median-frequency"]) == pytest.approx(row["median_frequency"])
        assert float(sheet["data-median-basket"]) == pytest.approx(row["median_basket"], abs=1e-4)
        assert float(sheet["data-nps"]) == pytest.approx(row["nps"], abs=1e-4)
        assert sheet["data-top-category"] == row["top_category"]
        assert sheet["data-top-channel"] == row["top_channel"]
        assert sheet["data-top-region"] == row["top_region"]
    assert report.customers == int(expected["customers"].sum())


def test_sections_changes_and_exclusions(warehouse: Path, report) -> None:
    """Headline changes compare with the previous refresh; exclusions count distinct customers."""
    html = report.path.read_text(encoding="utf-8")
    for section in range(1, 10):
        assert f'id="s{section}"' in html
    assert 'data-first-refresh="true"' not in html
    assert f"depuis le {PREVIOUS_AS_OF.isoformat()}" in html
    with duckdb.connect(str(warehouse), read_only=True) as con:
        excluded, at_stake = con.execute(
            "select count(distinct customer_id), sum(m) from (select customer_id, "
            "max(monetary) as m from marts.campaign_exclusions group by customer_id)"
        ).fetchone()
        reasons = dict(
            con.execute(
                "select reason, count(distinct customer_id) from "
                "marts.campaign_exclusions group by reason"
            ).fetchall()
        )
    cards = {
        a["data-metric"]: a["data-value"]
        for tag, a in _tags(html)
        if "data-metric" in a and tag == "div"
    }
    assert int(cards["excluded_customers"]) == excluded
    assert float(cards["revenue_at_stake"]) == pytest.approx(float(at_stake), abs=0.01)
    shown = {
        a["data-reason"]: int(a["data-customers"]) for tag, a in _tags(html) if "data-reason" in a
    }
    assert shown == reasons
    # Segment labels come from the seed in the report language; apostrophes are escaped.
    assert "À ne pas perdre" in html and "Fidèles" in html
    assert report.path.name == f"insight_report_{AS_OF.isoformat()}.html"
    assert report.latest.read_bytes() == report.path.read_bytes()


def test_report_is_offline_small_and_free_of_personal_data(report) -> None:
    """No network reference in src/href, no script, under 3 MB, and no planted PII."""
    html = report.path.read_text(encoding="utf-8")
    assert report.size_bytes < MAX_BYTES
    for tag, attrs in _tags(html):
        assert tag not in ("script", "link", "iframe", "img"), tag
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name, "")
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert "url(" not in html  # no CSS fetches either
    for marker in PII_MARKERS:
        assert marker not in html


def test_first_refresh_and_english(tmp_path: Path) -> None:
    """With one refresh in history the report says so; English labels come from the seed."""
    wh = build_standin_warehouse(tmp_path / "wh.duckdb", customers=80, refreshes=1)
    with duckdb.connect(str(wh), read_only=True) as con:
        result = build_report(con, tmp_path / "out", language="en")
    html = result.path.read_text(encoding="utf-8")
    assert html.count('data-first-refresh="true"') == 2  # headline changes and migrations
    assert "First refresh" in html and "Can&#39;t Lose Them" in html
    assert 'lang="en"' in html


def test_unknown_language_is_rejected(warehouse: Path, tmp_path: Path) -> None:
    """A typo in the language fails loudly instead of producing a mixed-language report."""
    with duckdb.connect(str(warehouse), read_only=True) as con, pytest.raises(ValueError):
        build_report(con, tmp_path, language="de")


def test_segment_distribution_markdown(warehouse: Path) -> None:
    """The markdown table lists every segment with its customers, and the total."""
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
