"""The watch page's player in real headless Chromium (Debian's, driven by Playwright).

A real 8 s HLS ladder (fMP4, 360p/480p/720p, demuxed audio, as the product's ladder is) is made
with ffmpeg and served, with the rendered page and the built assets, by a small local HTTP server
that also records every beacon POST. Pages are served with the API's Content-Security-Policy, and
any violation fails the test. Nothing is downloaded: Chromium is ``/usr/bin/chromium``.

``TAILORCAST_SCREENSHOTS=1`` also writes ``docs/screenshots/watch-desktop.png`` and
``watch-mobile.png``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain import engagement
from chalicelib.domain.watch_page import (
    CallToAction,
    OpenGraph,
    PlayerVideo,
    Rendition,
    Seller,
    WatchPage,
)
from chalicelib.web import get_asset, render_not_found, render_watch_page
from tailorcast_cli.viewer import CHROMIUM, CHROMIUM_ARGS, CSP_PROBE

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
FONT = ROOT / "chalicelib" / "media" / "fonts" / "DejaVuSans-Bold.ttf"
TOKEN = "wt_e2eWatchPlayerToken0123456789abcdef"
SESSION = "ses_e2e.1763800000000.c2lnbmF0dXJl"
DURATION = 8.0
RUNGS = (("360p", 640, 360, "600k"), ("480p", 854, 480, "1200k"), ("720p", 1280, 720, "2500k"))
STATE = "document.documentElement.dataset.tcState"


# ---------------------------------------------------------------------------------- media
def make_ladder(out: Path) -> Path:
    """An 8 s, 3-rung fMP4 HLS ladder with demuxed audio, 2 s segments, video starting at 0."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    font = str(FONT).replace(":", r"\:")
    text = (
        f"drawtext=fontfile={font}:text='Hi Ada, this one is for you':fontcolor=white:fontsize=54:"
        "x=(w-tw)/2:y=h*0.2,"
        f"drawtext=fontfile={font}:text='%{{eif\\:t\\:d}} s':fontcolor=white@0.75:fontsize=36:"
        "x=(w-tw)/2:y=h*0.72"
    )
    video = f"gradients=s=1280x720:r=25:c0=0x1d3fa8:c1=0x6a2fd0:speed=0.015:d={DURATION},{text}"
    split = "".join(f"[s{i}]" for i in range(len(RUNGS)))
    graph = f"[0:v]split={len(RUNGS)}{split};" + ";".join(
        f"[s{i}]scale={w}:{h},setsar=1[v{i}]" for i, (_, w, h, _) in enumerate(RUNGS)
    )
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video]
    args += ["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={DURATION}"]
    args += ["-filter_complex", graph, "-map", "1:a"]
    for i in range(len(RUNGS)):
        args += ["-map", f"[v{i}]"]
    args += ["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast"]
    args += ["-pix_fmt", "yuv420p", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0"]
    for i, (*_, rate) in enumerate(RUNGS):
        args += [f"-b:v:{i}", rate]
    streams = " ".join(
        ["a:0,agroup:aud,name:audio"] + [f"v:{i},agroup:aud,name:{n}" for i, (n, *_) in enumerate(RUNGS)]
    )
    args += ["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4"]
    args += [
        "-hls_flags",
        "independent_segments",
        "-var_stream_map",
        streams,
        "-master_pl_name",
        "ffmpeg.m3u8",
    ]
    args += ["-hls_segment_filename", str(out / "%v" / "seg_%03d.m4s"), str(out / "%v" / "index.m3u8")]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    # ffmpeg's master lists the audio group as a variant of its own too; the product's master
    # lists only the video rungs, each pointing at the shared audio group.
    lines = (out / "ffmpeg.m3u8").read_text().splitlines()
    master = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    master.append(
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_aud",NAME="English",DEFAULT=YES,AUTOSELECT=YES,'
        'CHANNELS="2",URI="audio/index.m3u8"'
    )
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF") and "RESOLUTION=" in line:
            master += [line, lines[i + 1]]
    (out / "master.m3u8").write_text("\n".join(master) + "\n")
    poster = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video]
    poster += ["-ss", "1", "-frames:v", "1", "-q:v", "3", str(out / "poster.jpg")]
    subprocess.run(poster, check=True, capture_output=True, timeout=60)
    return out


def watch_page(base: str, *, cta: bool = True) -> WatchPage:
    headline = "Ada, here’s how Northwind could cut onboarding time in half"
    return WatchPage(
        title="A video for Ada from Sam Rivera",
        headline=headline,
        prospect_first_name="Ada",
        seller=Seller(name="Sam Rivera"),
        cta=CallToAction(label="Book a 15-minute call", url=f"{base}/cta") if cta else None,
        video=PlayerVideo(
            master_url=f"{base}/media/master.m3u8",
            poster_url=f"{base}/media/poster.jpg",
            duration=DURATION,
            renditions=[Rendition(label=n, height=h) for n, _, h, _ in RUNGS],
        ),
        beacon_url=f"{base}/w/{TOKEN}/events",
        session=SESSION,
        og=OpenGraph(
            title="Sam Rivera recorded a video for Ada",
            description=headline,
            url=f"{base}/w/{TOKEN}",
            image=f"{base}/media/poster.jpg",
            image_width=1280,
            image_height=720,
        ),
    )


# ---------------------------------------------------------------------------------- site
_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
}


class Site:
    """The watch page, its assets and its media on 127.0.0.1; beacon POSTs are recorded."""

    def __init__(self, media: Path) -> None:
        self.media = media.resolve()
        self.beacons: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if content_type.startswith("text/html"):
                    self.send_header("Content-Security-Policy", csp())
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == f"/w/{TOKEN}":
                    html = render_watch_page(watch_page(site.url))
                    return self._send(200, html.encode(), "text/html; charset=utf-8")
                if path == "/w/wt_broken":  # a page whose playlist is gone (or whose cookies are)
                    page = watch_page(site.url)
                    page.video.master_url = f"{site.url}/media/gone/master.m3u8"
                    return self._send(200, render_watch_page(page).encode(), "text/html; charset=utf-8")
                if path.startswith("/w/"):
                    return self._send(404, render_not_found().encode(), "text/html; charset=utf-8")
                if path == "/cta":
                    return self._send(200, b"<!doctype html><title>Booked</title><p>Booked", "text/html")
                if path.startswith("/assets/"):
                    asset = get_asset(path.removeprefix("/assets/"))
                    if asset:
                        return self._send(200, asset.body, asset.content_type)
                if path.startswith("/media/"):
                    file = (site.media / path.removeprefix("/media/")).resolve()
                    if file.is_relative_to(site.media) and file.is_file():
                        return self._send(
                            200, file.read_bytes(), _TYPES.get(file.suffix, "application/octet-stream")
                        )
                self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != f"/w/{TOKEN}/events":
                    return self._send(404, b"", "text/plain")
                record = {"content_type": self.headers.get("Content-Type", ""), "size": len(body)}
                record["json"] = json.loads(body)
                with site.lock:
                    site.beacons.append(record)
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for b in self.beacons for e in b["json"]["events"]]

    def reset(self) -> None:
        with self.lock:
            self.beacons.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    media = make_ladder(tmp_path_factory.mktemp("ladder"))
    server = Site(media)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: `make system-deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def csp() -> str:
    """The watch page's Content-Security-Policy, as the API route sends it."""
    from chalicelib.api.watch import CONTENT_SECURITY_POLICY

    return CONTENT_SECURITY_POLICY


def new_context(browser: Any, **options: Any) -> Any:
    context = browser.new_context(**options)
    context.add_init_script(CSP_PROBE)
    return context


@pytest.fixture
def desktop(browser: Any, site: Site) -> Iterator[Any]:
    context = new_context(browser, viewport={"width": 1280, "height": 800})
    site.reset()
    try:
        page = context.new_page()
        yield page
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()


def wait_until(page: Any, expression: str, timeout_ms: int = 15_000) -> None:
    # A function, not a bare expression: Playwright would eval() the latter in the page, which
    # the page's CSP (no 'unsafe-eval') forbids.
    page.wait_for_function(f"() => ({expression})", timeout=timeout_ms)


def current_time(page: Any) -> float:
    return float(page.evaluate("document.getElementById('tc-video').currentTime"))


def poll(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the beacons")
        time.sleep(0.05)


def open_ready(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/w/{TOKEN}")
    wait_until(page, f"{STATE} === 'ready'")
    # hls.js has read the master playlist and relisted the quality menu from its levels.
    wait_until(page, "document.querySelectorAll('#tc-quality option').length === 4")


# ---------------------------------------------------------------------------------- tests
def test_codecs_are_supported(desktop: Any, site: Site) -> None:
    desktop.goto(f"{site.url}/w/{TOKEN}")
    supported = desktop.evaluate(
        "['video/mp4; codecs=\"avc1.42c01e\"', 'audio/mp4; codecs=\"mp4a.40.2\"']"
        ".map(t => window.MediaSource && MediaSource.isTypeSupported(t))"
    )
    assert supported == [True, True], "this Chromium lacks H.264/AAC for Media Source Extensions"
    assert desktop.evaluate("window.Hls.isSupported() && window.Hls.version") == "1.7.4"


def test_play_switch_quality_speed_end_and_cta(desktop: Any, site: Site) -> None:
    page = desktop
    open_ready(page, site)
    assert page.evaluate("document.documentElement.dataset.tcQuality") == "auto"
    options = page.eval_on_selector_all("#tc-quality option", "els => els.map(e => e.value)")
    assert options == ["auto", "720p", "480p", "360p"]

    page.click("#tc-bigplay")
    wait_until(page, f"{STATE} === 'playing'")
    wait_until(page, "document.getElementById('tc-video').currentTime > 0.8")
    page.select_option("#tc-quality", "720p")
    wait_until(page, "document.documentElement.dataset.tcLevel === '720p'")
    assert page.evaluate("document.documentElement.dataset.tcQuality") == "720p"

    # Pause and resume: a pause, then a second play.
    wait_until(page, "document.getElementById('tc-video').currentTime > 2.2")
    page.click("#tc-play")
    wait_until(page, f"{STATE} === 'paused'")
    assert page.get_attribute("#tc-play", "aria-label") == "Play"
    page.click("#tc-play")
    wait_until(page, f"{STATE} === 'playing'")
    assert page.get_attribute("#tc-play", "aria-label") == "Pause"

    # Switch to 360p mid-play: the position must not jump back, and hls.js must change level.
    wait_until(page, "document.getElementById('tc-video').currentTime > 3.2")
    page.evaluate(
        """() => {
            const v = document.getElementById('tc-video');
            window.__tcTest = {min: Infinity, seeks: 0};
            v.addEventListener('timeupdate', () => { __tcTest.min = Math.min(__tcTest.min, v.currentTime); });
            v.addEventListener('seeking', () => { __tcTest.seeks += 1; });
        }"""
    )
    before = current_time(page)
    page.select_option("#tc-quality", "360p")
    wait_until(page, "document.documentElement.dataset.tcLevel === '360p'")
    wait_until(page, f"document.getElementById('tc-video').currentTime > {before + 0.4}")
    probe = page.evaluate("window.__tcTest")
    assert probe["min"] >= before - 0.25, f"playback jumped back from {before} to {probe['min']}"

    page.select_option("#tc-speed", "2")
    assert page.evaluate("document.getElementById('tc-video').playbackRate") == 2
    wait_until(page, f"{STATE} === 'ended'", timeout_ms=30_000)
    assert current_time(page) >= DURATION - 0.2

    with page.context.expect_page() as opened:
        page.click("#tc-cta")
    cta_page = opened.value
    cta_page.wait_for_load_state()
    assert cta_page.url == f"{site.url}/cta"
    poll(lambda: any(e["type"] == "cta_click" for e in site.events()))
    time.sleep(0.3)  # anything still in flight

    # ---- the beacons
    for beacon in site.beacons:
        assert beacon["content_type"].startswith("text/plain"), beacon["content_type"]
        assert beacon["size"] <= 4096
        assert beacon["json"]["session"] == SESSION
        assert 1 <= len(beacon["json"]["events"]) <= 20
        engagement.parse_body(json.dumps(beacon["json"]).encode())  # what the API takes, exactly
    events = site.events()
    # Every event numbered once in the page's session: 0, 1, 2 … with no gap or repeat.
    assert sorted(e["seq"] for e in events) == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds.count("page_view") == 1
    assert kinds.index("page_view") == 0
    assert kinds.count("play") == 2
    assert kinds.count("pause") == 1
    assert kinds.count("ended") == 1
    assert kinds.count("cta_click") == 1
    assert [e["quartile"] for e in events if e["type"] == "quartile"] == [25, 50, 75, 100]
    assert [(e["quality"]) for e in events if e["type"] == "quality_change"] == ["720p", "360p"]
    assert all(isinstance(e["t"], int) for e in events)
    assert all(0 <= e["position"] <= DURATION for e in events if "position" in e)

    heartbeats = [e for e in events if e["type"] == "heartbeat"]
    assert heartbeats, "no heartbeat"
    assert all(e["ranges"] for e in heartbeats)
    assert {e["quality"] for e in heartbeats} <= {"auto", "720p", "360p"}
    assert all(0.5 <= e["speed"] <= 2 for e in heartbeats)
    ended = next(e for e in events if e["type"] == "ended")
    ranges = [r for e in [*heartbeats, ended] for r in e["ranges"]]
    assert all(0 <= a < b <= DURATION for a, b in ranges)
    total = sum(b - a for a, b in ranges)
    assert total == pytest.approx(ended["watched"], abs=0.01)
    assert ended["watched"] == pytest.approx(DURATION, abs=0.5)
    covered, end = 0.0, 0.0
    for a, b in sorted(ranges):
        covered += max(0.0, b - max(a, end))
        end = max(end, b)
    assert covered >= DURATION - 0.5
    watched = [e["watched"] for e in events if "watched" in e]
    assert watched == sorted(watched), "cumulative watched went down"


def test_many_seeks_stay_within_the_request_limits(desktop: Any, site: Site) -> None:
    page = desktop
    open_ready(page, site)
    page.select_option("#tc-speed", "2")
    page.click("#tc-bigplay")
    wait_until(page, f"{STATE} === 'playing'")
    wait_until(page, "document.getElementById('tc-video').currentTime > 4")
    # 24 short ranges: play ~0.5 s (at 2x), jump back 0.7 s, again and again.
    page.evaluate(
        """async () => {
            const v = document.getElementById('tc-video');
            for (let i = 0; i < 24; i++) {
                await new Promise((r) => setTimeout(r, 250));
                v.currentTime = Math.max(0.2, v.currentTime - 0.7);
                await new Promise((r) => v.addEventListener('seeked', r, {once: true}));
            }
        }"""
    )
    page.click("#tc-play")
    wait_until(page, f"{STATE} === 'paused'")
    poll(lambda: any(e["type"] == "pause" for e in site.events()))
    heartbeats = [e for e in site.events() if e["type"] == "heartbeat"]
    assert sum(len(e["ranges"]) for e in heartbeats) >= 20
    assert len(heartbeats) >= 2, "a heartbeat should go early once 20 ranges are pending"
    assert all(len(e["ranges"]) <= 20 for e in heartbeats)
    assert all(b["size"] <= 4096 and len(b["json"]["events"]) <= 20 for b in site.beacons)
    watched = [e["watched"] for e in heartbeats]
    assert watched == sorted(watched)
    ranges = [r for e in heartbeats for r in e["ranges"]]
    assert sum(b - a for a, b in ranges) == pytest.approx(watched[-1], abs=0.02)


def test_mobile_layout_and_touch_play(browser: Any, site: Site) -> None:
    context = new_context(
        browser, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        open_ready(page, site)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        cta = page.locator("#tc-cta").bounding_box()
        assert cta["width"] >= 390 - 2 * 16 - 1
        assert cta["height"] >= 44
        targets = page.evaluate(
            """[...document.querySelectorAll('.tc-controls button, .tc-controls select, #tc-bigplay')]
               .filter(e => e.offsetParent !== null)
               .map(e => { const r = e.getBoundingClientRect(); return [e.id, r.width, r.height]; })"""
        )
        assert {t[0] for t in targets} >= {"tc-play", "tc-mute", "tc-quality", "tc-speed", "tc-fullscreen"}
        for ident, width, height in targets:
            assert width >= 44 and height >= 44, f"#{ident} is {width}x{height}"
        seek = page.locator("#tc-seek").bounding_box()
        play = page.locator("#tc-play").bounding_box()
        assert seek["y"] + seek["height"] <= play["y"] + 1, "the seek bar should sit above the buttons"
        assert page.locator("#tc-volume").is_hidden()

        page.tap("#tc-bigplay")
        wait_until(page, f"{STATE} === 'playing'")
        page.set_viewport_size({"width": 320, "height": 640})
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 320
        rows = {
            round(page.locator(f"#{i}").bounding_box()["y"])
            for i in ("tc-play", "tc-quality", "tc-fullscreen")
        }
        assert len(rows) == 1, "the buttons should fit one row at 320 px"
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()


def test_keyboard(desktop: Any, site: Site) -> None:
    page = desktop
    open_ready(page, site)
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "tc-play":
            break
    assert page.evaluate("document.activeElement.id") == "tc-play"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Space")
    wait_until(page, f"{STATE} === 'playing'")
    page.keyboard.press("k")
    wait_until(page, f"{STATE} === 'paused'")
    page.keyboard.press("m")
    assert page.evaluate("document.getElementById('tc-video').muted") is True
    assert page.get_attribute("#tc-mute", "aria-label") == "Unmute"
    before = current_time(page)
    page.keyboard.press("ArrowRight")
    wait_until(
        page, f"Math.abs(document.getElementById('tc-video').currentTime - {min(before + 5, DURATION)}) < 0.3"
    )
    page.keyboard.press("ArrowLeft")
    wait_until(page, f"Math.abs(document.getElementById('tc-video').currentTime - {before}) < 0.3")
    # Every control is reachable by Tab and labelled.
    labels = page.eval_on_selector_all(
        ".tc-controls button, .tc-controls input, .tc-controls select, #tc-bigplay",
        "els => els.map(e => e.getAttribute('aria-label'))",
    )
    assert all(labels)


def test_not_found_page(desktop: Any, site: Site) -> None:
    response = desktop.goto(f"{site.url}/w/wt_unknown")
    assert response.status == 404
    assert "isn’t available" in desktop.inner_text("h1")
    assert desktop.evaluate("getComputedStyle(document.body).display") == "grid"  # styled, under the CSP


def test_leaving_the_page_reports_what_was_watched(desktop: Any, site: Site) -> None:
    page = desktop
    open_ready(page, site)
    page.click("#tc-bigplay")
    wait_until(page, "document.getElementById('tc-video').currentTime > 1.5")
    assert not [e for e in site.events() if e["type"] == "heartbeat"]  # none due yet (every 5 s)
    page.goto(f"{site.url}/cta")  # pagehide
    poll(lambda: any(e["type"] == "heartbeat" for e in site.events()))
    (heartbeat,) = [e for e in site.events() if e["type"] == "heartbeat"]
    assert heartbeat["ranges"][0][0] < 0.1
    # The player records ranges from `timeupdate` (every ~250 ms), so they may trail currentTime.
    assert heartbeat["ranges"][-1][1] >= 1.2
    assert heartbeat["watched"] >= 1.2


def test_unloadable_video_says_so(desktop: Any, site: Site) -> None:
    desktop.goto(f"{site.url}/w/wt_broken")
    desktop.wait_for_selector("#tc-error", state="visible", timeout=20_000)
    assert "could not be loaded" in desktop.inner_text("#tc-error")


@pytest.mark.skipif(os.environ.get("TAILORCAST_SCREENSHOTS") != "1", reason="set TAILORCAST_SCREENSHOTS=1")
def test_screenshots(browser: Any, site: Site) -> None:
    shots = ROOT / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for name, options in (
        ("watch-desktop.png", {"viewport": {"width": 1280, "height": 800}}),
        (
            "watch-mobile.png",
            {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
        ),
    ):
        context = browser.new_context(**options)
        try:
            page = context.new_page()
            open_ready(page, site)
            wait_until(page, "document.getElementById('tc-video').readyState >= 2")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / name))
        finally:
            context.close()
    assert all((shots / n).stat().st_size > 10_000 for n in ("watch-desktop.png", "watch-mobile.png"))


# ------------------------------------------------------------------ a grown window (issue 17)

#: Records every SourceBuffer hls.js opens and, on each ``timeupdate``, what each holds: where
#: a splice left a hole in one track's timestamps, its buffered ranges show it.
SOURCE_BUFFER_PROBE = """
window.__tcBuffers = [];
window.__tcRanges = [];
const addSourceBuffer = MediaSource.prototype.addSourceBuffer;
MediaSource.prototype.addSourceBuffer = function (type) {
    const buffer = addSourceBuffer.call(this, type);
    window.__tcBuffers.push({type, buffer});
    return buffer;
};
document.addEventListener('timeupdate', () => {
    try {
        window.__tcRanges = window.__tcBuffers.map(({type, buffer}) => ({
            type,
            ranges: Array.from({length: buffer.buffered.length},
                               (_, i) => [buffer.buffered.start(i), buffer.buffered.end(i)]),
        }));
    } catch (e) { /* a removed buffer: keep the last snapshot */ }
}, true);
"""


def play_to_end(browser: Any, watch_url: str) -> tuple[float, float, list[dict[str, Any]], list[Any]]:
    """Open the watch page, play at 2× until it ends: (the video's duration, the time reached,
    each track's buffered ranges as :data:`SOURCE_BUFFER_PROBE` records them, CSP violations)."""
    context = new_context(browser, viewport={"width": 1280, "height": 800})
    context.add_init_script(SOURCE_BUFFER_PROBE)
    try:
        page = context.new_page()
        page.goto(watch_url)
        wait_until(page, f"{STATE} === 'ready'")
        page.click("#tc-bigplay")
        wait_until(page, f"{STATE} === 'playing'")
        page.select_option("#tc-speed", "2")
        wait_until(page, f"{STATE} === 'ended'", timeout_ms=60_000)
        duration = float(page.evaluate("document.getElementById('tc-video').duration"))
        return duration, current_time(page), page.evaluate("window.__tcRanges"), page.evaluate("window.__csp")
    finally:
        context.close()


def _holes(ranges: list[list[float]]) -> list[tuple[float, float]]:
    """(where, how long) of every hole between buffered ranges."""
    ordered = sorted(ranges)
    return [(a[1], b[0] - a[1]) for a, b in itertools.pairwise(ordered) if b[0] > a[1]]


def test_a_name_longer_than_its_slot_grows_the_window_and_plays_to_the_end(
    stack: Any, seller: Any, browser: Any, tmp_path: Path
) -> None:
    """Issue 17, item 2, on the local stack: a long name on the speech base's short slot ("John")
    grows the window; the prospect's stream plays in Chromium (hls.js) to the end with no hole in
    either track's timestamps at either splice, and decodes with ``ffmpeg -v error``."""
    import imageio_ffmpeg

    client, account_id, cid = seller
    csv = tmp_path / "long.csv"
    csv.write_text("First Name,Email\r\nBartholomew Christopher,bart@example.com\r\n")
    ticket = client.upload(cid, "prospects_csv", csv, "text/csv")
    assert client.wait_for_import(cid, ticket.upload_id).imported == 1
    assert client.wait_for_voice(cid).status == "ready"
    batch = client.start_batch(cid)
    assert client.wait_for_batch(cid, batch.batch_id).status == "completed"
    (bart,) = client.prospects(cid)
    video = client.video(cid, bart.prospect_id)
    assert video.status == "completed", video.error
    window = video.window
    assert window is not None and window.hold_at is not None
    assert window.extension > 0, "the name should need a grown window on this slot"
    assert abs(window.extension * 30 - round(window.extension * 30)) < 1e-6  # whole frames (30 fps)

    # The whole stream (every rendition, both splices) decodes without one error. Each media
    # playlist on its own: opened through a master, ffmpeg also probes the renditions it does not
    # decode and prints "Invalid NAL unit size" from that probe, for the base's own master too.
    s3 = stack.client("s3")
    bucket = stack.settings.media_bucket
    mirror = tmp_path / "media"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{account_id}/{cid}/")
    for item in (o for p in pages for o in p.get("Contents", [])):
        (mirror / item["Key"]).parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, item["Key"], str(mirror / item["Key"]))
    assert video.playlist_key is not None
    master = mirror / video.playlist_key
    base_seconds = 7.0
    uris = [line for line in master.read_text().splitlines() if line.endswith(".m3u8")]
    uris += [
        line.split('URI="')[1].rstrip('"') for line in master.read_text().splitlines() if 'URI="' in line
    ]
    assert len(uris) == 4  # three rungs and the audio, all the prospect's own (the picture holds)
    assert all("/" not in uri for uri in uris)
    for uri in uris:
        decoded = subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-v",
                "error",
                "-i",
                str(master.parent / uri),
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert decoded.returncode == 0 and decoded.stderr == "", decoded.stderr

    # hls.js in Chromium plays it to the end, through the front door as a prospect would.
    link = client.watch_link(cid, bart.prospect_id)
    duration, reached, tracks, violations = play_to_end(browser, link.watch_url)
    assert violations == []
    assert duration == pytest.approx(base_seconds + window.extension, abs=0.1)
    assert reached >= duration - 0.2
    assert sorted(t["type"].split("/")[0] for t in tracks) == ["audio", "video"]
    splices = (2 * int(window.start // 2), 2 * (int(window.end // 2) + 1) + window.extension)
    for track in tracks:
        ranges = track["ranges"]
        holes = _holes(ranges)
        print(f"{track['type']}: buffered {ranges}; holes {holes}; splices at {splices}")
        assert holes == [], f"{track['type']} has holes in its timestamps: {holes}"
        assert ranges[0][0] <= 0.1 and ranges[-1][1] >= duration - 0.1
