"""The watch page's own weight: its HTML, CSS and player script gzipped, without hls.js or video.

Issue 7's target: at most 60 KB gzipped beyond hls.js. ``measure()`` renders a representative
page (:func:`sample_page`) with the real template and the built assets (``make web``), gzips each
part at level 9 and reports the bytes; hls.js is reported beside it, outside the budget.
"""

from __future__ import annotations

import gzip

from chalicelib.domain.watch_page import (
    CallToAction,
    OpenGraph,
    PlayerVideo,
    Rendition,
    Seller,
    WatchPage,
)
from chalicelib.web import get_asset, render_watch_page
from chalicelib.web.assets import manifest

TARGET_BYTES = 60 * 1024


def sample_page(front: str = "https://watch.tailorcast.example", token: str | None = None) -> WatchPage:
    """A watch page as a real prospect gets it: 3 renditions, an avatar, a calendar CTA, and
    ids, token and session as long as the product's."""
    token = token or "wt_3q9VbR7kLm2XcT8pZsN4yHd6JfWa1uEo"
    prefix = "acc_01JD8Z6Q9K3M7N2P4R5S6T7V8W/cmp_01JD8Z7A1B2C3D4E5F6G7H8J9K"
    render = f"{front}/{prefix}/videos/prs_01JD8Z8M1N2P3Q4R5S6T7V8W9X/rnd_01JD8Z9Y1Z2A3B4C5D6E7F8G9H"
    poster = f"{render}/poster.jpg"
    headline = "Ada, here’s how Northwind could cut onboarding time in half"
    return WatchPage(
        title="A video for Ada from Sam Rivera",
        headline=headline,
        prospect_first_name="Ada",
        seller=Seller(name="Sam Rivera", avatar_url=f"{front}/{prefix}/avatar.jpg"),
        cta=CallToAction(label="Book a 15-minute call", url="https://cal.example.com/sam-rivera/15min"),
        video=PlayerVideo(
            master_url=f"{render}/master.m3u8",
            poster_url=poster,
            duration=62.5,
            renditions=[
                Rendition(label="360p", height=360),
                Rendition(label="480p", height=480),
                Rendition(label="720p", height=720),
            ],
        ),
        beacon_url=f"{front}/w/{token}/events",
        session="ses_01JD8ZA1B2C3D4E5F6G7H8J9KM.1763800000000.q7Xo3-Vb9LkP2sT4uW6yZ8aC0eG1iK3mO5qS7uW9yA0",
        og=OpenGraph(
            title="Sam Rivera recorded a video for Ada",
            description=headline,
            url=f"{front}/w/{token}",
            image=poster,
            image_width=1280,
            image_height=720,
        ),
    )


def _gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _asset_bytes(logical: str) -> bytes:
    asset = get_asset(manifest()[logical])
    if asset is None:
        raise FileNotFoundError(f"{logical} is in the manifest but not on disk: run `make web`")
    return asset.body


def measure() -> dict[str, int | bool]:
    """Gzipped bytes of the page's HTML, CSS and player script (the budget) and of hls.js."""
    html = _gzip_size(render_watch_page(sample_page()).encode("utf-8"))
    css = _gzip_size(_asset_bytes("watch.css"))
    player = _gzip_size(_asset_bytes("player.js"))
    total = html + css + player
    return {
        "html_gzip_bytes": html,
        "css_gzip_bytes": css,
        "player_js_gzip_bytes": player,
        "total_gzip_bytes": total,
        "hls_js_gzip_bytes": _gzip_size(_asset_bytes("hls.js")),
        "target_bytes": TARGET_BYTES,
        "met": total <= TARGET_BYTES,
    }


if __name__ == "__main__":
    from benchmarks.harness import emit

    emit(dict(measure()))
