"""A prospect and the scanners in front of them, for the demo and the end-to-end tests.

``watch`` opens a watch link in real headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright; nothing is downloaded), plays it to the end (switching quality and speed on the way,
as people do) and clicks the CTA. ``scanner_hits`` does what email security gateways and link
checkers do to a link. Neither is ever part of the product: they stand in for the outside world.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a root, offline, headless Chromium (no sandbox, no background calls home).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
#: A person's desktop browser (headless Chromium says "HeadlessChrome", which is a bot's mark).
PERSON_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
STATE = "document.documentElement.dataset.tcState"
VIDEO = "document.getElementById('tc-video')"
#: Collects Content-Security-Policy violations of every page in a context (window.__csp).
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__csp.push(e.effectiveDirective + ' ' + e.blockedURI));
"""


@dataclass
class Viewing:
    headline: str
    duration: float
    reached: float
    quality_levels: list[str]
    cta_opened: str | None
    csp_violations: list[str]


def _wait(page: Any, expression: str, timeout_ms: int = 30_000) -> None:
    # A function, not a bare expression: the page's CSP (no 'unsafe-eval') forbids eval().
    page.wait_for_function(f"() => ({expression})", timeout=timeout_ms)


def watch(url: str, *, switch_to: str | None = "360p", speed: str = "2", click_cta: bool = True) -> Viewing:
    """Watch the video at ``url`` to the end as a person would; returns what happened.

    Raises
    ------
    RuntimeError
        Chromium is not installed (``make system-deps`` installs Debian's).
    """
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, user_agent=PERSON_AGENT)
            context.add_init_script(CSP_PROBE)
            cta_seen: list[str] = []

            def offline_cta(route: Any) -> None:  # the seller's calendar is on the internet
                cta_seen.append(route.request.url)
                route.fulfill(status=200, content_type="text/html", body="<title>Booked</title>Booked")

            page = context.new_page()
            response = page.goto(url)
            if response is None or response.status != 200:
                raise RuntimeError(f"the watch page answered {response.status if response else 'nothing'}")
            _wait(page, f"{STATE} === 'ready'")
            _wait(page, "document.querySelectorAll('#tc-quality option').length >= 2")
            levels = page.eval_on_selector_all("#tc-quality option", "els => els.map(e => e.value)")
            cta = page.query_selector("#tc-cta")
            cta_url = cta.get_attribute("href") if cta else None
            if cta_url:
                context.route(f"{cta_url}*", offline_cta)
            page.click("#tc-bigplay")
            _wait(page, f"{STATE} === 'playing'")
            if switch_to and switch_to in levels:
                _wait(page, f"{VIDEO}.currentTime > 1.5")
                page.select_option("#tc-quality", switch_to)
                _wait(page, f"document.documentElement.dataset.tcLevel === '{switch_to}'")
            page.select_option("#tc-speed", speed)
            _wait(page, f"{STATE} === 'ended'", 120_000)
            duration = float(page.evaluate(f"{VIDEO}.duration"))
            reached = float(page.evaluate(f"{VIDEO}.currentTime"))
            headline = page.inner_text("h1")
            opened = None
            if click_cta and cta_url:
                with context.expect_page() as popup:
                    page.click("#tc-cta")
                popup.value.wait_for_load_state()
                opened = popup.value.url
            violations = list(page.evaluate("window.__csp"))
            page.close(run_before_unload=True)  # pagehide sends the last beacons
            context.close()
        finally:
            browser.close()
    return Viewing(headline, duration, reached, levels, opened, violations)


SCANNER_AGENTS = {
    "proofpoint": "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
    "curl": "curl/8.5.0",
    "mimecast": "Mimecast URL Protect",
}


def scanner_hits(url: str) -> int:
    """What a mail gateway does to a fresh link: a HEAD, scanners' GETs, a browser-like prefetch
    that never plays, and a scanner that runs the page's JavaScript and sends its beacons.
    Returns how many requests were made (every one of them must be flagged or discounted)."""
    made = 0
    with httpx.Client(timeout=30) as http:
        for method, agent in [
            ("HEAD", PERSON_AGENT),
            ("GET", SCANNER_AGENTS["proofpoint"]),
            ("GET", SCANNER_AGENTS["curl"]),
            ("GET", PERSON_AGENT),  # a prefetch: only analytics can tell (no play follows)
        ]:
            http.request(method, url, headers={"User-Agent": agent}).raise_for_status()
            made += 1
        scanner = http.get(url, headers={"User-Agent": SCANNER_AGENTS["mimecast"]})
        scanner.raise_for_status()
        island = scanner.text.split('id="tc-page"', 1)[1].split(">", 1)[1].split("</script>", 1)[0]
        body = {
            "session": json.loads(island)["session"],
            "events": [{"type": "page_view", "seq": 0}, {"type": "play", "seq": 1, "position": 0}],
        }
        http.post(
            f"{url}/events",
            content=json.dumps(body),
            headers={"User-Agent": SCANNER_AGENTS["mimecast"], "Content-Type": "text/plain;charset=UTF-8"},
        ).raise_for_status()
        made += 2
    return made
