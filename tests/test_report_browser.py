"""The insight report in a real headless Chromium: no console errors, no network, charts drawn.

Chromium is driven through the DevTools protocol over `--remote-debugging-pipe` (file
descriptors 3 and 4, NUL-separated JSON): no websocket library and no downloaded browser.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from report_helpers import copy_warehouse

from pipeline.report.i18n import ATTRIBUTE_DOMAINS, Translator
from pipeline.report.render import SECTIONS, build_report

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
#: Charts the report of the demo's first refresh draws (sparklines come on top; the migration
#: chart needs a previous refresh).
EXPECTED_CHARTS = {
    "segment-customers",
    "segment-revenue",
    "rf-grid",
    "cohort-retention",
    "season-clv",
    "priority-grid",
}


class DevToolsPipe:
    """Minimal DevTools protocol client over Chromium's debugging pipe."""

    def __init__(self, user_data_dir: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:
            # Chromium reads commands on fd 3 and writes replies and events on fd 4. The pipes
            # may themselves sit on 3..6, so move them above first, then place and un-CLOEXEC.
            read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={user_data_dir}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds,
            close_fds=False,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no DevTools message from chromium")
            chunk = os.read(self._from_chrome, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and return its result; events seen meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open_page(self) -> tuple[str, str]:
        """A blank page with the Runtime, Log, Page and Network events on: (target, session)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable", session=session)
        return target, session

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until an event arrives (or was already seen)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        """Ask the browser to quit, then make sure the process we started is gone."""
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def _require_chromium() -> None:
    """CI must have Chromium (it installs it); elsewhere a missing browser is a clear skip."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing on CI: .ci/run must apt-get install chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium) - browser test skipped")


DOM_CHECK = """(() => {
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => ({
    name: svg.dataset.chart,
    empty: svg.dataset.empty || '',
    // Data marks only (axis labels, legend swatches and grid lines do not count): a bar or cell
    // carries its tooltip <title>, a point or bubble is a circle, each covering some screen; a
    // line is a polyline of 2+ points.
    marks: [...svg.querySelectorAll('rect, circle, polyline')].filter(el => {
      const box = el.getBoundingClientRect();
      if (el.tagName === 'polyline') return el.points.numberOfItems > 1;
      const drawn = box.width > 0 && box.height > 0;
      return drawn && (el.tagName === 'circle' || el.querySelector('title') !== null);
    }).length,
    width: svg.getBoundingClientRect().width,
    height: svg.getBoundingClientRect().height,
  }));
  // Every label of every chart as the quadrilateral it covers on screen (rotation included).
  const quad = (el) => {
    const b = el.getBBox(), m = el.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height],
            [b.x, b.y + b.height]].map(([x, y]) => [m.a * x + m.c * y + m.e,
                                                   m.b * x + m.d * y + m.f]);
  };
  const labels = [...document.querySelectorAll('svg.chart')].map(svg => ({
    chart: svg.dataset.chart,
    texts: [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
      .map(t => ({text: t.textContent, quad: quad(t)})),
  }));
  const svgText = [...document.querySelectorAll('svg text')].map(t => t.textContent).join('\\n');
  return JSON.stringify({
    charts,
    labels,
    visibleText: document.body.innerText + '\\n' + svgText,
    personas: document.querySelectorAll('article.persona').length,
    sections: [...document.querySelectorAll('section')].map(s => s.id),
    height: document.documentElement.scrollHeight,
  });
})()"""


def console_errors(events: list[dict]) -> list[dict]:
    """The DevTools events of a page load that are errors: console errors and failed asserts,
    uncaught exceptions, and error entries of the browser's log."""
    return [
        e
        for e in events
        if (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"].get("type") in ("error", "assert")
        )
        or e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]


def _overlap(p: list[list[float]], q: list[list[float]], tolerance: float = 1.0) -> bool:
    """Separating-axis test of two convex quadrilaterals (screen pixels): True when they
    overlap by more than `tolerance` along every axis."""
    for poly in (p, q):
        for i in range(2):
            (x1, y1), (x2, y2) = poly[i], poly[i + 1]
            length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5 or 1.0
            ax, ay = -(y2 - y1) / length, (x2 - x1) / length
            a = [x * ax + y * ay for x, y in p]
            b = [x * ax + y * ay for x, y in q]
            if max(a) - tolerance <= min(b) or max(b) - tolerance <= min(a):
                return False
    return True


def overlapping_labels(labels: list[dict]) -> list[tuple[str, str, str]]:
    """(chart, label, label) for every pair of texts of one chart that overlap on screen."""
    found = []
    for chart in labels:
        texts = chart["texts"]
        for i, first in enumerate(texts):
            for second in texts[i + 1 :]:
                if _overlap(first["quad"], second["quad"]):
                    found.append((chart["chart"], first["text"], second["text"]))
    return found


def untranslated_codes(text: str, codes: dict[str, str]) -> list[str]:
    """Codes (code -> its label in the report language) printed as such in `text`.

    A code whose label is itself (or contains it as a word) is fine; otherwise the code must
    not appear as a word (or, for several words, as a phrase) of the visible text.
    """
    words = set(re.findall(r"[\w<>+'-]+", text))
    found = []
    for code, label in codes.items():
        if code == label or code in re.findall(r"[\w<>+'-]+", label):
            continue
        if (" " in code and code in text) or (" " not in code and code in words):
            found.append(f"{code} (label {label!r})")
    return found


def mart_codes(warehouse: Path, language: str) -> dict[str, str]:
    """Every code the report's marts hold, with its label in `language`."""
    t = Translator(language)
    codes: dict[str, str] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        seeds = con.execute(f"select segment, label_{language} from marts.segments").fetchall()
        for segment, label in seeds:
            codes[segment] = label
        for code in ("All", "Unscored"):
            codes[code] = t.code("segment", code)
        queries = {
            "reason": "select distinct reason from marts.campaign_exclusion_summary "
            "where reason <> 'All'",
            "topic": "select distinct topic from marts.segment_support_themes",
            "category": "select distinct category from marts.segment_star_products",
            "channel": "select distinct acquisition_channel from marts.acquisition_costs",
            "grid_cell": "select distinct grid_cell from marts.segment_priority",
        }
        for domain, sql in queries.items():
            for (code,) in con.execute(sql).fetchall():
                codes[code] = t.code(domain, code)
        for attribute, value in con.execute(
            "select distinct attribute, value from marts.segment_persona_breakdowns"
        ).fetchall():
            codes[attribute] = t.code("attribute", attribute)
            if ATTRIBUTE_DOMAINS[attribute] is not None:
                codes[value] = t.attribute_value(attribute, value)
    return codes


def _render(report: Path, user_data_dir: Path) -> tuple[dict, list[dict], bytes]:
    """Load a report in headless Chromium: its DOM state, the DevTools events, a screenshot."""
    browser = DevToolsPipe(user_data_dir)
    try:
        _, session = browser.open_page()
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 4000, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Page.navigate", {"url": report.as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired")
        state = json.loads(
            browser.send(
                "Runtime.evaluate",
                {"expression": DOM_CHECK, "returnByValue": True},
                session=session,
            )["result"]["value"]
        )
        shot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=session,
        )
    finally:
        browser.close()
    return state, browser.events, base64.b64decode(shot["data"])


@pytest.fixture(scope="module")
def reports(refreshed: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The French report the demo refresh wrote, and the English one of the same warehouse."""
    work = tmp_path_factory.mktemp("browser")
    warehouse = copy_warehouse(refreshed, work / "warehouse.duckdb")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        english = build_report(
            con, work / "en", language="en", generated_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        )
    return {
        "fr": Path(refreshed["state"]) / "reports" / "latest.html",
        "en": english.path,
        "warehouse": warehouse,
    }


@pytest.mark.slow
@pytest.mark.parametrize("language", ["fr", "en"])
def test_report_renders_in_chromium(reports: dict, tmp_path: Path, language: str) -> None:
    """The real report of the demo refresh, in both languages, loaded from file:// in headless
    Chromium: no console error, no network request, every chart drawn, no code left
    untranslated, no two labels of a chart overlapping; the screenshot is kept as an artifact."""
    _require_chromium()
    report = reports[language]
    assert f'lang="{language}"' in report.read_text(encoding="utf-8")[:200]
    state, events, png = _render(report, Path(tempfile.mkdtemp(dir=tmp_path, prefix="chromium-")))

    errors = console_errors(events)
    assert errors == []
    requests = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests

    names = {c["name"] for c in state["charts"]}
    assert EXPECTED_CHARTS <= names
    for chart in state["charts"]:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        # A chart draws data marks, or says why it has none (a KPI never measured for a segment:
        # its trend is the dashed "no value" line); only those small trend lines may be empty.
        if chart["marks"] == 0:
            assert chart["empty"] == "no value in any refresh", chart
            assert chart["name"].startswith("kpi-"), chart
        else:
            assert chart["empty"] == "", chart
    assert all(c["marks"] > 0 for c in state["charts"] if c["name"] in EXPECTED_CHARTS), [
        c for c in state["charts"] if c["name"] in EXPECTED_CHARTS and c["marks"] == 0
    ]
    assert state["personas"] >= 9
    assert state["sections"] == [s.id for s in SECTIONS]

    assert overlapping_labels(state["labels"]) == []
    codes = mart_codes(reports["warehouse"], language)
    assert len(codes) > 60
    assert untranslated_codes(state["visibleText"], codes) == []

    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    screenshot = tmp_path / f"insight_report_{language}.png"
    screenshot.write_bytes(png)
    artifacts = os.environ.get("SEGMENTS_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy2(screenshot, Path(artifacts) / screenshot.name)
        shutil.copy2(report, Path(artifacts) / f"insight_report_{language}.html")


def test_the_overlap_check_sees_overlapping_labels() -> None:
    """The geometric check itself: crossing and touching boxes, rotated ones too."""
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    moved = [[x + 5, y + 5] for x, y in square]
    apart = [[x + 12, y] for x, y in square]
    # A 45-degree rotated square whose corner points at the first one without reaching it.
    diamond = [[17, 5], [22, 0], [27, 5], [22, 10]]
    assert _overlap(square, moved)
    assert not _overlap(square, apart)
    assert not _overlap(square, diamond)
    assert overlapping_labels(
        [{"chart": "c", "texts": [{"text": "a", "quad": square}, {"text": "b", "quad": moved}]}]
    ) == [("c", "a", "b")]


def test_the_code_check_sees_untranslated_codes() -> None:
    codes = {
        "one_time_promo_buyer": "Achat unique en promotion",
        "25-34": "25-34 ans",
        "Can't Lose Them": "À ne pas perdre",
    }
    assert untranslated_codes("Achat unique en promotion · 25-34 ans", codes) == []
    assert untranslated_codes("motif one_time_promo_buyer", codes) == [
        "one_time_promo_buyer (label 'Achat unique en promotion')"
    ]
    assert untranslated_codes("segment Can't Lose Them", codes) == [
        "Can't Lose Them (label 'À ne pas perdre')"
    ]
