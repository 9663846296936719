"""The prospect's watch page: HTML rendered with Jinja2 (autoescaped) and its static assets.

``render_watch_page`` turns a :class:`~chalicelib.domain.watch_page.WatchPage` into the page;
``render_not_found`` is the plain 404 page for an unknown, expired or revoked token (it says
nothing about which). The player script, the styles and hls.js are built by ``make web`` and
served by the routes through ``get_asset`` at ``asset_url(...)``.

May import: the domain and Jinja2. Never adapters, api or tasks (contract ``adapters-and-web``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from chalicelib.domain.watch_page import WatchPage
from chalicelib.web.assets import (
    ASSETS_PREFIX,
    CACHE_CONTROL,
    Asset,
    AssetsNotBuiltError,
    asset_url,
    get_asset,
)

__all__ = [
    "ASSETS_PREFIX",
    "CACHE_CONTROL",
    "SPEEDS",
    "Asset",
    "AssetsNotBuiltError",
    "asset_url",
    "brand_css",
    "get_asset",
    "page_data",
    "render_not_found",
    "render_watch_page",
    "style_hash",
]

#: Playback speeds the speed menu offers (value, label).
SPEEDS = (("0.5", "0.5×"), ("0.75", "0.75×"), ("1", "1×"), ("1.25", "1.25×"), ("1.5", "1.5×"), ("2", "2×"))


@functools.cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("chalicelib.web", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _http_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None (never a ``javascript:`` link)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _clock(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 60}:{total % 60:02d}"


def _qualities(page: WatchPage) -> list[str]:
    """The renditions' labels, best first, as the quality menu lists them before hls.js has
    read the master playlist (it then relists hls.js's own levels)."""
    return [r.label for r in sorted(page.video.renditions, key=lambda r: -r.height)]


def page_data(page: WatchPage) -> dict[str, object]:
    """What the player script reads from the page's JSON island (``#tc-page``)."""
    return {
        "video": {
            "src": page.video.master_url,
            "duration": page.video.duration,
            "renditions": _qualities(page),
        },
        "beacon": page.beacon_url,
        "session": page.session,
    }


def brand_css(page: WatchPage) -> str | None:
    """The page's one inline style: the account's accent colour (branding), else none. The
    colours are validated ``#rrggbb``; the response's CSP allows this exact text by its hash."""
    brand = page.brand
    if brand.accent is None:
        return None
    return f":root{{--brand:{brand.accent};--brand-dark:{brand.accent_dark or brand.accent}}}"


def style_hash(css: str) -> str:
    """The CSP source that allows the inline ``<style>`` whose text is ``css``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def render_watch_page(page: WatchPage) -> str:
    """The watch page's HTML. Raises AssetsNotBuiltError when ``make web`` has not run."""
    return (
        _env()
        .get_template("watch.html")
        .render(
            page=page,
            data=page_data(page),
            qualities=_qualities(page),
            speeds=SPEEDS,
            duration_text=_clock(page.video.duration),
            avatar_url=_http_url(page.seller.avatar_url),
            poster_url=_http_url(page.video.poster_url),
            og_image=_http_url(page.og.image),
            cta_url=_http_url(page.cta.url) if page.cta else None,
            brand_css=brand_css(page),
            logo_url=_http_url(page.brand.logo_url),
            show_badge=page.brand.show_badge,
            css_url=asset_url("watch.css"),
            hls_url=asset_url("hls.js"),
            player_url=asset_url("player.js"),
        )
    )


def render_not_found() -> str:
    """A plain, friendly 404 page, the same for every reason (unknown, expired, revoked). It has
    no script and no inline style (the page's CSP allows neither); it uses the watch page's
    stylesheet when the assets are built and is still readable, unstyled, when they are not."""
    try:
        css_url: str | None = asset_url("watch.css")
    except (AssetsNotBuiltError, KeyError):
        css_url = None
    return _env().get_template("not_found.html").render(css_url=css_url)
