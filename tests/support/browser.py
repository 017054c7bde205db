"""A page as a person sees it: `open_page` loads a copy of an HTML file in headless Chromium, with
a probe script, and returns `PageFacts` (images and how many rendered, console messages and
uncaught errors, the visible text, and the layout at a 1280 px window); `screenshot` draws it.

Without a browser the tests that use it are skipped, saying so, unless CI=true or
HARNESS_REQUIRE_BROWSER=1 (as .ci/run sets): then a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1280, 900  # px: the window of a laptop, as a new user opens the page
TIMEOUT = 120  # s per Chromium call; a page loads in about 2 s on 2 cores

# The probe, put first in <head> of a copy so that it sees every console call and error from the start.
# Once the page has loaded it writes its facts, as URI-encoded JSON, into <pre id="harness-probe">.
PROBE = """<script>(function () {
  var log = [];
  ["log", "info", "warn", "error", "debug"].forEach(function (k) {
    var f = console[k];
    console[k] = function () { log.push(k + ": " + Array.from(arguments).join(" ")); f.apply(console, arguments); };
  });
  window.addEventListener("error", function (e) {
    var what = e.target && e.target !== window ? "failed to load " + e.target.tagName : e.message;
    log.push("uncaught: " + what);
  }, true);
  window.addEventListener("unhandledrejection", function (e) { log.push("unhandled rejection: " + e.reason); });
  window.addEventListener("load", function () {
    var top = function (el) { return el ? el.getBoundingClientRect().top + window.scrollY : null; };
    var imgs = Array.from(document.images);
    var facts = {
      images: imgs.length,
      rendered: imgs.filter(function (i) {
        var r = i.getBoundingClientRect();
        return i.complete && i.naturalWidth > 0 && r.width > 0 && r.height > 0;
      }).length,
      imagesBottom: imgs.length ? Math.max.apply(null, imgs.map(function (i) {
        return i.getBoundingClientRect().bottom + window.scrollY; })) : null,
      console: log,
      text: document.body.innerText,
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      tables: Array.from(document.querySelectorAll("table")).map(function (t) {
        // The box's content width and right edge: without its padding, where a table may not go.
        var box = t.parentElement, style = getComputedStyle(box), b = box.getBoundingClientRect();
        var left = parseFloat(style.paddingLeft), right = parseFloat(style.paddingRight);
        return {width: t.getBoundingClientRect().width, box: box.clientWidth - left - right,
                boxRight: b.left + box.clientLeft + box.clientWidth - right, overflowX: style.overflowX,
                header: t.rows.length ? t.rows[0].innerText : ""};
      }),
      tops: {}
    };
    SELECTORS.forEach(function (s) { facts.tops[s] = top(document.querySelector(s)); });
    var out = document.createElement("pre");
    out.id = "harness-probe";
    out.textContent = encodeURIComponent(JSON.stringify(facts));
    document.body.appendChild(out);
  });
})();</script>"""


@dataclass(frozen=True)
class TableFacts:
    """One <table>: its width, its box's (the parent element's) content width and right edge (px), and
    whether that box scrolls sideways; `header` is its first row's text, to name it in a message."""

    width: float
    box: float
    box_right: float
    overflow_x: str
    header: str

    @property
    def scrolls(self) -> bool:
        """The box scrolls sideways on its own when the table is wider than it."""
        return self.overflow_x in ("auto", "scroll")

    def fits(self, window: int) -> bool:
        """Inside the window: the box ends within it (0.5 px for rounding), and a table wider than its
        box scrolls there."""
        return self.box_right <= window + 0.5 and (self.width <= self.box + 0.5 or self.scrolls)


@dataclass(frozen=True)
class PageFacts:
    """What the page showed: images and rendered images, the bottom of the lowest image, console lines
    (the page's and Chromium's), the visible text, the page's and the window's widths (px), each table,
    and the top of the first element matching each selector asked for (None: no such element). Heights
    are px from the page's top."""

    images: int
    rendered: int
    images_bottom: float | None
    console: list[str]
    text: str
    scroll_width: int
    window_width: int
    tables: list[TableFacts]
    tops: dict[str, float | None]

    def top(self, selector: str) -> float:
        """The top of the first match of `selector` (px); fails naming it when there is none."""
        value = self.tops.get(selector)
        assert value is not None, f"no element matches {selector!r} on the page"
        return value


def find_browser() -> str | None:
    """The first Chromium-like browser on PATH."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def need_browser() -> str:
    """The browser; without one, skip the test, or fail it under CI=true or HARNESS_REQUIRE_BROWSER=1."""
    browser = find_browser()
    if browser is None:
        if os.environ.get("HARNESS_REQUIRE_BROWSER") == "1" or os.environ.get("CI") == "true":
            pytest.fail("no headless browser on PATH (apt-get install chromium), and CI=true or "
                        "HARNESS_REQUIRE_BROWSER=1")
        pytest.skip("no headless browser on PATH (apt-get install chromium); set HARNESS_REQUIRE_BROWSER=1 to "
                    "make this a failure; the pages are checked without one by the other tests")
    return browser


def _chromium(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium call at WIDTH x HEIGHT with a profile under `work`; fails on a non-zero exit."""
    command = [need_browser(), "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={work / 'profile'}",
               "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--run-all-compositor-stages-before-draw",
               "--virtual-time-budget=5000", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _console_lines(log: str) -> list[str]:
    """Chromium's own log lines of console messages and uncaught errors."""
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def open_page(page: Path, work: Path, selectors: tuple[str, ...] = ()) -> PageFacts:
    """Load a probed copy of `page` (written under `work`, beside nothing else) at a WIDTH px window."""
    work.mkdir(parents=True, exist_ok=True)
    text = page.read_text(encoding="utf-8")
    probe = PROBE.replace("SELECTORS", json.dumps(["img", *selectors]))
    assert "<head>" in text, "the page has no <head>"
    probed = work / f"probed-{page.name}"
    probed.write_text(text.replace("<head>", "<head>" + probe, 1), encoding="utf-8")
    done = _chromium(work, f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="harness-probe">([^<]*)</pre>', done.stdout)
    assert found, f"the probe did not report (the page never loaded?): {done.stdout[-500:]}"
    facts = json.loads(urllib.parse.unquote(found.group(1)))
    tables = [TableFacts(t["width"], t["box"], t["boxRight"], t["overflowX"], t["header"]) for t in facts["tables"]]
    return PageFacts(images=facts["images"], rendered=facts["rendered"], images_bottom=facts["imagesBottom"],
                     console=facts["console"] + _console_lines(done.stderr), text=facts["text"],
                     scroll_width=facts["scrollWidth"], window_width=facts["innerWidth"], tables=tables,
                     tops=facts["tops"])


def screenshot(page: Path, work: Path, height: int = 3000) -> tuple[Path, list[str]]:
    """The page as written (no probe), drawn WIDTH px wide and `height` px tall: the PNG and Chromium's
    console lines."""
    work.mkdir(parents=True, exist_ok=True)
    copy, shot = work / page.name, work / f"{page.stem}.png"
    shutil.copyfile(page, copy)
    done = _chromium(work, f"--window-size={WIDTH},{height}", f"--screenshot={shot}", copy.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    return shot, _console_lines(done.stderr)


def check_reads_well(facts: PageFacts) -> None:
    """What every page must do: render every image, keep the console clean, and not scroll sideways at
    WIDTH px: every table in a box of its own that scrolls sideways, inside the window."""
    assert facts.images > 0 and facts.rendered == facts.images, (facts.images, facts.rendered)
    assert not facts.console, facts.console
    assert facts.window_width == WIDTH, facts.window_width
    assert facts.scroll_width <= facts.window_width, (facts.scroll_width, facts.window_width)
    for table in facts.tables:
        assert table.scrolls and table.fits(facts.window_width), table
