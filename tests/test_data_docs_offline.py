"""GX Data Docs render in headless Chromium with the network off, and only the last N runs stay."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import great_expectations as gx
import pytest
from test_quality_suites import HEALTHY_WAREHOUSE
from test_report_browser import DevToolsPipe, _require_chromium, console_errors

from pipeline.lib.resources import RefreshSettings, Warehouse
from pipeline.quality.checks import evaluate_gate
from pipeline.quality.docs_offline import CDN_ASSETS, NODE_MODULES, make_offline
from pipeline.quality.runner import DOCS_SITE
from pipeline.quality.suites import load_gate

PAGE_CHECK = """(() => JSON.stringify({
  rows: document.querySelectorAll('table tbody tr').length,
  tables: document.querySelectorAll('.bootstrap-table').length,
  logo: [...document.images].filter(i => i.complete && i.naturalWidth > 0).length,
  text: document.body.innerText.length,
  jquery: typeof window.jQuery,
  vega: typeof window.vegaEmbed,
}))()"""


def _docs(tmp_path: Path, runs: int, keep: int) -> Path:
    """Validate two gates in `runs` runs on a healthy warehouse; the docs of the last `keep`."""
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(HEALTHY_WAREHOUSE)
    settings = RefreshSettings(
        as_of="2026-10-01", state_dir=str(tmp_path / "state"), data_docs_keep_runs=keep
    )
    for run in range(runs):
        for gate in ("cohort_retention", "clean_orders"):
            outcome = evaluate_gate(
                load_gate(gate), Warehouse(path=str(path)), settings, f"run-{run}", build_docs=True
            )
            assert outcome.passed
    return tmp_path / "state" / "quality"


def _open_offline(browser: DevToolsPipe, url: str) -> tuple[dict, list[dict]]:
    """Load `url` with the network emulated offline; (DOM facts, events of this page)."""
    target, session = browser.open_page()
    browser.send(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        session=session,
    )
    first = len(browser.events)
    browser.send("Page.navigate", {"url": url}, session=session)
    deadline = time.monotonic() + 60
    while not any(
        e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session
        for e in browser.events[first:]
    ):
        browser.events.append(browser._read_message(deadline))
    facts = json.loads(
        browser.send(
            "Runtime.evaluate", {"expression": PAGE_CHECK, "returnByValue": True}, session=session
        )["result"]["value"]
    )
    events = [e for e in browser.events[first:] if e.get("sessionId") == session]
    browser.send("Target.closeTarget", {"targetId": target})
    return facts, events


def _problems(events: list[dict]) -> tuple[list, list, list]:
    errors = console_errors(events)
    failed = [e["params"] for e in events if e.get("method") == "Network.loadingFailed"]
    requests = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    return errors, failed, requests


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.browser
def test_data_docs_render_offline_in_chromium(tmp_path: Path) -> None:
    _require_chromium()
    assert NODE_MODULES.is_dir(), "run `make install` (installs the Data Docs assets with npm)"
    quality = _docs(tmp_path, runs=1, keep=5)
    docs = quality / "data_docs"
    pages = [docs / "index.html", *sorted((docs / "validations").rglob("*.html"))[:1]]
    assert len(pages) == 2
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not [url for url in CDN_ASSETS if url in html], page

    browser = DevToolsPipe(Path(tempfile.mkdtemp(dir=tmp_path, prefix="chromium-")))
    try:
        results = [_open_offline(browser, page.as_uri()) for page in pages]
    finally:
        browser.close()

    for page, (facts, events) in zip(pages, results, strict=True):
        errors, failed, requests = _problems(events)
        assert errors == [], (page, errors)
        assert failed == [], (page, failed)
        assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
        # The libraries ran and drew the tables; the logo came from the local images.
        assert (facts["jquery"], facts["vega"]) == ("function", "function"), facts
        assert facts["tables"] >= 1 and facts["rows"] >= 1 and facts["logo"] >= 1, facts
    index_facts = results[0][0]
    # One row per validation (2 gates, 4 suites): the index lists them all.
    assert index_facts["rows"] >= 4, index_facts


def test_only_the_last_runs_are_kept(tmp_path: Path) -> None:
    quality = _docs(tmp_path, runs=4, keep=2)
    assert sorted(p.name for p in (quality / "results").iterdir()) == ["run-2", "run-3"]
    store = quality / "gx" / "uncommitted" / "validations"
    kept_runs = {p.name for p in store.rglob("run-*") if p.is_dir()}
    assert kept_runs == {"run-2", "run-3"}
    pages = {p.name for p in (quality / "data_docs" / "validations").rglob("run-*") if p.is_dir()}
    assert pages == {"run-2", "run-3"}
    index = (quality / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert "run-3" in index and "run-2" in index and "run-1" not in index and "run-0" not in index


def test_each_gate_renders_only_its_new_pages_and_the_site_equals_a_full_build(
    tmp_path: Path,
) -> None:
    quality = _docs(tmp_path, runs=2, keep=5)
    docs = quality / "data_docs"
    first_run = sorted((docs / "validations").rglob("run-0/*/*.html"))
    assert len(first_run) == 4  # 2 gates, 4 suites
    written = {page: page.stat().st_mtime_ns for page in first_run}
    site = {p.relative_to(docs) for p in docs.rglob("*.html")}
    # A third run's gates leave the pages of the earlier runs as they were.
    settings = RefreshSettings(as_of="2026-10-01", state_dir=str(tmp_path / "state"))
    for gate in ("cohort_retention", "clean_orders"):
        evaluate_gate(
            load_gate(gate), Warehouse(path=str(tmp_path / "wh.duckdb")), settings, "run-2"
        )
    assert {page: page.stat().st_mtime_ns for page in first_run} == written
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert all(f"run-{n}" in index for n in range(3))
    # GX's full build of the same store gives the same pages.
    incremental = {p.relative_to(docs) for p in docs.rglob("*.html")}
    assert incremental > site
    shutil.rmtree(docs)
    gx.get_context(mode="file", project_root_dir=str(quality)).build_data_docs(
        site_names=[DOCS_SITE]
    )
    assert {p.relative_to(docs) for p in docs.rglob("*.html")} == incremental


def test_pages_are_rewritten_once_and_unknown_loads_are_reported(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "validations" / "a").mkdir(parents=True)
    page = docs / "validations" / "a" / "p.html"
    page.write_text(
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>\n'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"'
        ' integrity="sha384-x" crossorigin="anonymous"></script>\n'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo.png?d=1">'
        '\n<script src="https://example.org/tracker.js"></script>\n'
        '<a href="https://greatexpectations.io">GX</a>\n'
    )
    assert make_offline(docs) == ["https://example.org/tracker.js"]
    html = page.read_text()
    assert '<script src="../../static/vendor/jquery.min.js"></script>' in html
    assert '<script src="../../static/vendor/popper.min.js"></script>' in html
    assert '<img src="../../static/images/logo.png">' in html
    assert '<a href="https://greatexpectations.io">' in html  # a link, not a load
    assert make_offline(docs) == ["https://example.org/tracker.js"]
    assert page.read_text() == html
