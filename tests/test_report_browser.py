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
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_report_standin import build_standin_warehouse

from pipeline.report.render import build_report

CHROMIUM = "/usr/bin/chromium"
#: Charts the report always draws with the stand-in data (sparklines come on top).
EXPECTED_CHARTS = {
    "segment-customers",
    "segment-revenue",
    "rf-grid",
    "cohort-retention",
    "season-clv",
    "segment-migrations",
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
    children: svg.querySelectorAll('rect, circle, polyline, line, path, text').length,
    width: svg.getBoundingClientRect().width,
    height: svg.getBoundingClientRect().height,
  }));
  return JSON.stringify({
    charts,
    personas: document.querySelectorAll('article.persona').length,
    sections: [...document.querySelectorAll('section')].map(s => s.id),
    height: document.documentElement.scrollHeight,
  });
})()"""


@pytest.mark.slow
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    """Load the report from file://, collect console errors and network requests, check every
    chart is drawn and non-empty, and keep a full-page screenshot as a test artifact."""
    _require_chromium()
    warehouse = build_standin_warehouse(tmp_path / "wh.duckdb", customers=300)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        result = build_report(
            con, tmp_path / "reports", generated_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        )
    browser = DevToolsPipe(Path(tempfile.mkdtemp(dir=tmp_path, prefix="chromium-")))
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 4000, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Page.navigate", {"url": result.path.as_uri()}, session=session)
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

    errors = [
        e
        for e in browser.events
        if (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"].get("type") in ("error", "assert")
        )
        or e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]
    assert errors == []
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests

    names = {c["name"] for c in state["charts"]}
    assert EXPECTED_CHARTS <= names
    for chart in state["charts"]:
        assert chart["children"] > 0 and chart["width"] > 0 and chart["height"] > 0, chart
    assert state["personas"] == result.segments
    assert state["sections"] == [f"s{i}" for i in range(1, 10)]

    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    screenshot = tmp_path / "insight_report.png"
    screenshot.write_bytes(png)
    artifacts = os.environ.get("SEGMENTS_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy2(screenshot, Path(artifacts) / screenshot.name)
        shutil.copy2(result.path, Path(artifacts) / result.path.name)
