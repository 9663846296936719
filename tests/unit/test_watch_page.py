"""The watch page's HTML (chalicelib.web), its built assets and its weight budget."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from benchmarks.pageweight import TARGET_BYTES, measure, sample_page
from chalicelib.domain.watch_page import CallToAction, Seller, WatchPage
from chalicelib.web import (
    ASSETS_PREFIX,
    CACHE_CONTROL,
    asset_url,
    get_asset,
    page_data,
    render_not_found,
    render_watch_page,
)
from chalicelib.web.assets import manifest


class Page(HTMLParser):
    """The parts of a rendered page the tests look at: every element's attributes, the text of
    every element by id, and the text of scripts."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag not in {"meta", "link", "img", "input", "br", "use", "path", "option"}:
            ident = attributes.get("id")
            self._open.append(ident)
            if ident:
                self.text_by_id[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag not in {"meta", "link", "img", "input", "br", "use", "path", "option"} and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident:
                self.text_by_id[ident] += data

    def find(self, tag: str, **attrs: str) -> dict[str, str]:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]

    def find_all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def meta(self, key: str) -> str:
        found = [
            a["content"]
            for t, a in self.elements
            if t == "meta" and key in (a.get("property"), a.get("name"))
        ]
        assert len(found) == 1, f"{len(found)} meta {key}"
        return found[0]


def island(html: str) -> object:
    match = re.search(r'<script type="application/json" id="tc-page">(.*?)</script>', html, re.S)
    assert match, "no JSON island"
    return json.loads(match.group(1))


def test_every_field_shows() -> None:
    page = sample_page()
    html = render_watch_page(page)
    doc = Page(html)
    assert doc.text_by_id["tc-cta"].strip() == "Book a 15-minute call"
    cta = doc.find("a", id="tc-cta")
    assert cta["href"] == "https://cal.example.com/sam-rivera/15min"
    assert cta["target"] == "_blank"
    assert "noopener" in cta["rel"].split()
    video = doc.find("video", id="tc-video")
    assert video["poster"] == page.video.poster_url
    assert "playsinline" in video
    assert page.headline in html
    assert "Sam Rivera" in html
    assert "Recorded for Ada" in html
    assert doc.find("img", **{"class": "tc-avatar"})["src"] == page.seller.avatar_url
    assert [t for t, _ in doc.elements].count("title") == 1
    assert f"<title>{page.title}</title>" in html
    # the quality menu before hls.js relists it: auto and the renditions, best first
    options = [a["value"] for t, a in doc.elements if t == "option"]
    assert options[:4] == ["auto", "720p", "480p", "360p"]
    assert options[4:] == ["0.5", "0.75", "1", "1.25", "1.5", "2"]
    assert doc.find("option", value="1")["selected"] == ""
    for ident in (
        "tc-play",
        "tc-bigplay",
        "tc-seek",
        "tc-mute",
        "tc-volume",
        "tc-quality",
        "tc-speed",
        "tc-fullscreen",
    ):
        element = next(a for _, a in doc.elements if a.get("id") == ident)
        assert element.get("aria-label"), ident
    assert doc.text_by_id["tc-time"] == "0:00 / 1:02"
    assert island(html) == {
        "video": {"src": page.video.master_url, "duration": 62.5, "renditions": ["720p", "480p", "360p"]},
        "beacon": page.beacon_url,
        "session": page.session,
    }
    assert island(html) == page_data(page)


def test_initials_without_avatar_and_no_cta() -> None:
    page = sample_page().model_copy(update={"seller": Seller(name="ada lovelace byron"), "cta": None})
    html = render_watch_page(page)
    doc = Page(html)
    assert not doc.find_all("img")
    assert len([a for t, a in doc.elements if t == "span" and "tc-initials" in a.get("class", "")]) == 1
    assert re.search(r'class="tc-avatar tc-initials"[^>]*>AL</span>', html)
    assert not doc.find_all("a", id="tc-cta")


def test_open_graph_twitter_robots_referrer_viewport() -> None:
    page = sample_page()
    doc = Page(render_watch_page(page))
    assert doc.meta("og:type") == "video.other"
    assert doc.meta("og:title") == page.og.title
    assert doc.meta("og:description") == page.og.description
    assert doc.meta("og:url") == page.og.url
    assert doc.meta("og:image") == page.og.image
    assert doc.meta("og:image:width") == "1280"
    assert doc.meta("og:image:height") == "720"
    assert doc.meta("twitter:card") == "summary_large_image"
    assert doc.meta("twitter:title") == page.og.title
    assert doc.meta("twitter:image") == page.og.image
    assert doc.meta("robots") == "noindex"
    assert doc.meta("referrer") == "no-referrer"
    assert "width=device-width" in doc.meta("viewport")
    assert doc.find("html")["lang"] == "en"
    assert doc.find("html")["data-tc-state"] == "loading"


def test_og_image_optional() -> None:
    page = sample_page()
    page = page.model_copy(update={"og": page.og.model_copy(update={"image": None})})
    html = render_watch_page(page)
    assert "og:image" not in html and "twitter:image" not in html
    assert Page(html).meta("twitter:card") == "summary_large_image"


EVIL = "</script><script>alert(\"x\")</script>' onmouseover='alert(1)' \u2028&amp;"


def test_text_is_escaped() -> None:
    page = sample_page().model_copy(
        update={
            "title": EVIL,
            "headline": EVIL,
            "prospect_first_name": EVIL,
            "seller": Seller(name=EVIL),
            "cta": CallToAction(label=EVIL, url='https://cal.example.com/x?a=1&b="2"'),
            "session": EVIL,
        }
    )
    page = page.model_copy(update={"og": page.og.model_copy(update={"title": EVIL, "description": EVIL})})
    html = render_watch_page(page)
    # exactly the page's own scripts: hls.js, the player and the JSON island
    assert html.count("<script") == 3
    assert "<script>alert" not in html
    assert "' onmouseover='" not in html
    doc = Page(html)
    assert doc.text_by_id["tc-cta"].strip() == EVIL
    assert doc.meta("og:title") == EVIL
    assert doc.meta("og:description") == EVIL
    assert doc.find("a", id="tc-cta")["href"] == 'https://cal.example.com/x?a=1&b="2"'
    assert EVIL in "".join(doc.text_by_id.values())
    # the JSON island cannot be closed from inside and still parses to the same value
    body = re.search(r'<script type="application/json" id="tc-page">(.*?)</script>', html, re.S)
    assert body and "<" not in body.group(1) and ">" not in body.group(1)
    assert island(html)["session"] == EVIL  # type: ignore[index]


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,hi", "//evil.example/x", "/relative"],
)
def test_unsafe_urls_are_dropped(url: str) -> None:
    base = sample_page()
    page = base.model_copy(
        update={
            "cta": CallToAction(label="Book", url=url),
            "seller": Seller(name="Sam", avatar_url=url),
            "video": base.video.model_copy(update={"poster_url": url}),
            "og": base.og.model_copy(update={"image": url}),
        }
    )
    html = render_watch_page(page)
    assert url not in html.replace(base.video.master_url, "")
    doc = Page(html)
    assert not doc.find_all("a", id="tc-cta")
    assert "poster" not in doc.find("video", id="tc-video")
    assert not doc.find_all("img")


def test_assets_referenced_exist_and_are_served() -> None:
    doc = Page(render_watch_page(sample_page()))
    css = doc.find("link", rel="stylesheet")["href"]
    scripts = [a["src"] for t, a in doc.elements if t == "script" and "src" in a]
    assert [asset_url("watch.css")] == [css]
    assert scripts == [asset_url("hls.js"), asset_url("player.js")]
    assert all("defer" in a for t, a in doc.elements if t == "script" and "src" in a)
    names = set(manifest().values())
    for url in [css, *scripts]:
        assert url.startswith(ASSETS_PREFIX)
        name = url.removeprefix(ASSETS_PREFIX)
        assert name in names
        asset = get_asset(name)
        assert asset is not None and asset.body
        assert re.fullmatch(r"[a-z]+\.[0-9a-f]{10}\.(js|css)", name)
        assert asset.cache_control == CACHE_CONTROL == "public, max-age=31536000, immutable"
    assert get_asset(manifest()["watch.css"]).content_type == "text/css; charset=utf-8"  # type: ignore[union-attr]
    assert get_asset(manifest()["player.js"]).content_type == "text/javascript; charset=utf-8"  # type: ignore[union-attr]
    assert b"Hls" in get_asset(manifest()["hls.js"]).body  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        asset_url("nope.js")


def test_asset_names_are_content_hashes() -> None:
    import hashlib

    for logical, name in manifest().items():
        body = get_asset(name).body  # type: ignore[union-attr]
        stem, ext = logical.rsplit(".", 1)
        assert name == f"{stem}.{hashlib.sha256(body).hexdigest()[:10]}.{ext}"


def test_get_asset_rejects_other_names() -> None:
    real = manifest()["player.js"]
    digest = real.split(".")[1]
    for name in [
        "",
        "manifest.json",
        "player.js",
        "player.0123456789.js",
        f"hls.{digest}.js",
        "../__init__.py",
        "..%2F__init__.py",
        "/etc/passwd",
        "dist/manifest.json",
        "templates/watch.html",
        f"{real}\n",
        f"./{real}",
        f"/{real}",
        f"x/../{real}",
        f"{real}?x=1",
        f"{real}\x00",
        f"{real}.map",
        real.upper(),
    ]:
        assert get_asset(name) is None, name
    assert get_asset(real) is not None


def test_not_found_page() -> None:
    html = render_not_found()
    doc = Page(html)
    assert doc.meta("robots") == "noindex"
    assert doc.meta("referrer") == "no-referrer"
    assert "isn’t available" in html
    assert "<script" not in html
    assert doc.find("link", rel="stylesheet")["href"] == asset_url("watch.css")
    assert "token" not in html.lower() and "revoked" not in html.lower()


def test_not_found_page_renders_without_built_assets(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from chalicelib.web import assets

    monkeypatch.setattr(assets, "MANIFEST", tmp_path / "missing.json")
    html = render_not_found()
    assert "isn’t available" in html and "stylesheet" not in html
    with pytest.raises(assets.AssetsNotBuiltError, match="make web"):
        render_watch_page(sample_page())


def test_no_inline_script_or_style() -> None:
    """The pages run under a CSP without 'unsafe-inline': only the JSON island (a data block,
    never executed) sits inline."""
    for html in (render_watch_page(sample_page()), render_not_found()):
        doc = Page(html)
        assert not [t for t, _ in doc.elements if t == "style"]
        assert not [(t, k) for t, a in doc.elements for k in a if k == "style" or k.startswith("on")]
        scripts = re.findall(r"<script([^>]*)>", html)
        assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)


def test_page_weight_is_far_under_the_target() -> None:
    weight = measure()
    assert weight["target_bytes"] == TARGET_BYTES == 61_440
    assert weight["met"] is True
    parts = ("html_gzip_bytes", "css_gzip_bytes", "player_js_gzip_bytes")
    assert weight["total_gzip_bytes"] == sum(weight[p] for p in parts)
    assert all(weight[p] > 0 for p in parts)
    assert weight["total_gzip_bytes"] <= 15 * 1024  # our own aim, a quarter of the budget
    assert weight["hls_js_gzip_bytes"] > 100_000  # hls.js is reported, outside the budget


def test_view_model_round_trip() -> None:
    page = sample_page()
    assert WatchPage.model_validate_json(page.model_dump_json()) == page
