"""Export for mail merge: cells safe from formula injection, columns, custom fields, videos not
finished, BOM and CRLF, HTML snippets escaped and limited to http(s) URLs; the use cases on fakes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain import export
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.export import ExportFormat, ExportRow, SnippetImage
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    Ladder,
    Prospect,
    ProspectVideo,
    UploadStatus,
    VideoStatus,
    new_id,
)
from tests import fakes

ACCOUNT, CAMPAIGN = "acct_1", "camp_1"
WATCH = "https://watch.example.com"
MEDIA = "https://media.example.com"


def _media_url(key: str) -> str | None:
    return f"{MEDIA}/{key}"


def _prospect(first_name: str = "Siobhan", **fields: Any) -> Prospect:
    return Prospect(
        account_id=ACCOUNT,
        campaign_id=CAMPAIGN,
        prospect_id=fields.pop("prospect_id", None) or new_id("pros"),
        first_name=first_name,
        email=fields.pop("email", None) or f"{new_id('e')}@example.com",
        **fields,
    )


def _video(
    prospect: Prospect, status: VideoStatus = VideoStatus.COMPLETED, gif: bool = True
) -> ProspectVideo:
    done = status is VideoStatus.COMPLETED
    return ProspectVideo(
        account_id=ACCOUNT,
        campaign_id=CAMPAIGN,
        prospect_id=prospect.prospect_id,
        render_id="rnd_1",
        status=status,
        prefix=f"{ACCOUNT}/{CAMPAIGN}/videos/{prospect.prospect_id}/rnd_1",
        master="index.m3u8" if done else None,
        poster="poster.jpg" if done else None,
        preview="preview.webp" if done else None,
        gif="preview.gif" if done and gif else None,
    )


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _csv(
    prospects: list[Prospect],
    videos: list[ProspectVideo] = (),  # type: ignore[assignment]
    watch: str | None = WATCH,
    status: VideoStatus | None = None,
) -> tuple[export.Export, list[list[str]]]:
    built = export.build_export(
        prospects, export.video_links(videos, _media_url), watch_base_url=watch, status=status
    )
    return built, _rows(export.csv_bytes(built))


def _by_column(rows: list[list[str]]) -> list[dict[str, str]]:
    header, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


# --------------------------------------------------------------------------- formula injection


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil","x")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        "\tplain after a tab",  # OWASP: a leading tab or CR is escaped whatever follows
        "  =1+1",  # after leading whitespace
        "\n=1+1",
        "\u00a0=1+1",  # after a no-break space
        "\u200b=1+1",  # after a zero-width space
        "\uff1d1+1",  # fullwidth =
        "\uff0b1",  # fullwidth +
        "\uff0d1",  # fullwidth -
        "\uff20SUM(A1)",  # fullwidth @
        "+1 555 0100",  # a phone number: escaped too (OWASP; Excel reads it as a formula)
        "=cmd|' /C calc'!A0",
    ],
)
def test_cells_that_could_start_a_formula_get_a_quote(value: str) -> None:
    assert export.neutralize_formula(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["", "Siobhan", "O'Brien", "a=b", "1+1", "555-0100", "jane@example.com", "https://x.io/w/a-b", "   "],
)
def test_other_cells_are_unchanged(value: str) -> None:
    assert export.neutralize_formula(value) == value


def test_every_exported_cell_is_neutralized_headers_included() -> None:
    # GIVEN prospects whose fields (and a custom column's name) carry formulas
    evil = _prospect(
        '=HYPERLINK("http://evil","x")',
        last_name="+1+1",
        company="@SUM(A1)",
        title="-2+3",
        phone="+1 555 0100",
        custom_fields={"=cmd": "\t=1", "notes": "fine"},
    )
    # WHEN exported
    _, rows = _csv([evil])
    header, row = rows
    # THEN each comes back as text a spreadsheet will not evaluate
    assert "'=cmd" in header and "=cmd" not in header
    cells = dict(zip(header, row, strict=True))
    assert cells["first_name"] == """'=HYPERLINK("http://evil","x")"""
    assert cells["last_name"] == "'+1+1"
    assert cells["company"] == "'@SUM(A1)"
    assert cells["title"] == "'-2+3"
    assert cells["phone"] == "'+1 555 0100"
    assert cells["'=cmd"] == "'\t=1"
    assert cells["notes"] == "fine"
    assert not any(cell[:1] in "=+-@\t\r" for cell in header + row if cell)


def test_every_cell_is_quoted_so_a_semicolon_cannot_start_a_cell() -> None:
    # Excel in locales that split on ";" would otherwise read "x;=1+1" as two cells, one a formula.
    built = export.build_export([_prospect("x;=1+1")], {}, watch_base_url=WATCH)
    data = export.csv_bytes(built).decode("utf-8-sig")
    header, line = data.split("\r\n")[:2]
    assert header.startswith('"first_name","last_name","email"')
    assert line.startswith('"x;=1+1",""')


# --------------------------------------------------------------------------- encoding, columns


def test_csv_is_utf8_with_a_bom_and_crlf_line_ends() -> None:
    built = export.build_export([_prospect("Zoë"), _prospect("Nguyễn")], {}, watch_base_url=WATCH)
    data = export.csv_bytes(built)
    assert data.startswith(b"\xef\xbb\xbf") and not data.startswith(b"\xef\xbb\xbf\xef\xbb\xbf")
    assert data.count(b"\r\n") == 3 and data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert "Zoë" in data.decode("utf-8-sig") and "Nguyễn" in data.decode("utf-8-sig")


def test_a_newline_inside_a_value_stays_in_its_cell() -> None:
    built = export.build_export([_prospect("Ann", title="VP\r\nSales")], {}, watch_base_url=WATCH)
    [row] = _by_column(_rows(export.csv_bytes(built)))
    assert row["title"] == "VP\r\nSales"


def test_columns_are_the_mail_merge_ones_then_custom_fields_in_first_seen_order() -> None:
    # GIVEN prospects with different custom fields, one named like a fixed column
    first = _prospect(
        "Ann", last_name="Lee", company="Acme", title="CTO", custom_fields={"Region": "EMEA", "Tier": "1"}
    )
    second = _prospect("Bo", custom_fields={"Deal size": "10k", "Region": "APAC", "email": "bo@other.io"})
    third = _prospect("Cy", custom_fields={"Watch_URL": "x", "email (custom)": "y"})
    # WHEN exported
    built, rows = _csv([first, second, third])
    # THEN the fixed columns come first, then the union of custom fields, clashes renamed
    assert rows[0] == [
        "first_name",
        "last_name",
        "email",
        "company",
        "title",
        "phone",
        "website",
        "linkedin_url",
        "watch_url",
        "poster_url",
        "gif_url",
        "video_status",
        "prospect_id",
        "Region",
        "Tier",
        "Deal size",
        "email (custom)",
        "Watch_URL (custom)",
        "email (custom) (custom)",
    ]
    ann, bo, cy = _by_column(rows)
    assert (ann["first_name"], ann["last_name"], ann["company"], ann["title"]) == (
        "Ann",
        "Lee",
        "Acme",
        "CTO",
    )
    assert ann["email"] == str(first.email) and ann["prospect_id"] == first.prospect_id
    assert (ann["Region"], ann["Tier"], ann["Deal size"]) == ("EMEA", "1", "")  # absent → empty
    assert (bo["Region"], bo["email (custom)"], bo["email"]) == ("APAC", "bo@other.io", str(second.email))
    assert (cy["Watch_URL (custom)"], cy["email (custom) (custom)"]) == ("x", "y")
    assert cy["watch_url"] == f"{WATCH}/w/{third.watch_token}"
    assert built.custom_columns["email"] == "email (custom)"


def test_prospects_keep_their_order() -> None:
    prospects = [_prospect(name) for name in ("Cy", "Ann", "Bo")]
    _, rows = _csv(prospects)
    assert [r["first_name"] for r in _by_column(rows)] == ["Cy", "Ann", "Bo"]


# --------------------------------------------------------------------------- links and videos


def test_finished_videos_have_links_and_the_others_their_status() -> None:
    # GIVEN a completed render, a failed one, one rendering, and a prospect never rendered
    done, failed, busy, never = (_prospect(n) for n in ("Ann", "Bo", "Cy", "Di"))
    videos = [_video(done), _video(failed, VideoStatus.FAILED), _video(busy, VideoStatus.RENDERING)]
    # WHEN exported
    built, rows = _csv([done, failed, busy, never], videos)
    ann, bo, cy, di = _by_column(rows)
    # THEN every prospect is there; only the finished one has media links
    prefix = f"{MEDIA}/{ACCOUNT}/{CAMPAIGN}/videos/{done.prospect_id}/rnd_1"
    assert (ann["video_status"], ann["poster_url"], ann["gif_url"]) == (
        "completed",
        f"{prefix}/poster.jpg",
        f"{prefix}/preview.gif",
    )
    assert ann["watch_url"] == f"{WATCH}/w/{done.watch_token}"
    for row, status in ((bo, "failed"), (cy, "rendering"), (di, "pending")):
        assert (row["video_status"], row["poster_url"], row["gif_url"]) == (status, "", ""), row
        assert row["watch_url"].startswith(f"{WATCH}/w/")  # the link is the prospect's, for later
    assert any("3 of 4 prospects have no finished video yet" in w for w in built.warnings)


def test_status_filter_keeps_only_those_prospects() -> None:
    done, failed, never = (_prospect(n) for n in ("Ann", "Bo", "Cy"))
    videos = [_video(done), _video(failed, VideoStatus.FAILED)]
    built, rows = _csv([done, failed, never], videos, status=VideoStatus.COMPLETED)
    assert [r["first_name"] for r in _by_column(rows)] == ["Ann"]
    assert not any("no finished video" in w for w in built.warnings)
    _, rows = _csv([done, failed, never], videos, status=VideoStatus.PENDING)
    assert [r["first_name"] for r in _by_column(rows)] == ["Cy"]


@pytest.mark.parametrize(
    ("base", "says"),
    [
        (None, "TAILORCAST_WATCH_BASE_URL is not set"),
        ("", "TAILORCAST_WATCH_BASE_URL is not set"),
        ("javascript:alert(1)//", "is not an http(s) URL"),
        ("ftp://watch.example.com", "is not an http(s) URL"),
    ],
)
def test_without_a_usable_watch_site_links_are_empty_and_the_export_says_so(
    base: str | None, says: str
) -> None:
    built, rows = _csv([_prospect()], watch=base)
    [row] = _by_column(rows)
    assert row["watch_url"] == ""
    assert any(says in w for w in built.warnings), built.warnings


def test_watch_url_is_the_base_and_the_token() -> None:
    assert export.watch_url("https://w.example.com/", "abc-_12") == "https://w.example.com/w/abc-_12"
    assert export.watch_url("http://127.0.0.1:8000", "tok") == "http://127.0.0.1:8000/w/tok"
    assert export.watch_url("https://w.example.com/base", "a/b?c") == "https://w.example.com/base/w/a%2Fb%3Fc"
    assert export.watch_url(None, "tok") is None


def test_media_links_need_a_media_site() -> None:
    prospect = _prospect()
    built = export.build_export(
        [prospect], export.video_links([_video(prospect)], lambda key: None), watch_base_url=WATCH
    )
    [row] = built.rows
    assert row.poster_url is None and row.gif_url is None and row.video_status is VideoStatus.COMPLETED
    assert any("TAILORCAST_MEDIA_BASE_URL" in w for w in built.warnings)


def test_a_render_from_before_gifs_has_no_gif_and_the_export_says_so() -> None:
    prospect = _prospect()
    built, rows = _csv([prospect], [_video(prospect, gif=False)])
    [row] = _by_column(rows)
    assert row["poster_url"].endswith("/poster.jpg") and row["gif_url"] == ""
    assert any("1 finished videos have no GIF" in w for w in built.warnings)
    # its GIF snippet shows the poster instead
    snippet = export.email_snippet(built.rows[0], image=SnippetImage.GIF)
    assert snippet is not None and 'src="' + row["poster_url"] + '"' in snippet


def test_a_complete_export_has_no_warnings() -> None:
    prospect = _prospect()
    built, _ = _csv([prospect], [_video(prospect)])
    assert built.warnings == []


# --------------------------------------------------------------------------- HTML


def _row(**overrides: Any) -> ExportRow:
    values: dict[str, Any] = {
        "prospect_id": "pros_1",
        "first_name": "Siobhan",
        "last_name": "Ní Bhriain",
        "email": "siobhan@example.com",
        "company": "Acme",
        "title": "",
        "phone": "",
        "website": "",
        "linkedin_url": "",
        "watch_url": f"{WATCH}/w/tok123",
        "poster_url": f"{MEDIA}/p/poster.jpg",
        "gif_url": f"{MEDIA}/p/preview.gif",
        "video_status": VideoStatus.COMPLETED,
        "custom_fields": {},
    }
    values.update(overrides)
    return ExportRow(**values)


def test_snippet_is_the_poster_linked_to_the_watch_page() -> None:
    html = export.email_snippet(_row(), size=(480, 270))
    assert html == (
        f'<a href="{WATCH}/w/tok123" target="_blank" rel="noopener" '
        'style="display:inline-block;text-decoration:none;border:0;">'
        f'<img src="{MEDIA}/p/poster.jpg" alt="A video for Siobhan Ní Bhriain: click to play" '
        'width="480" height="270" style="display:block;width:480px;max-width:100%;height:auto;border:0;'
        'outline:none;text-decoration:none;"></a>'
    )
    assert "<style" not in html and "class=" not in html  # inline styles only


def test_gif_snippet_uses_the_gif() -> None:
    html = export.email_snippet(_row(), image=SnippetImage.GIF, size=(400, 225))
    assert html is not None
    assert f'src="{MEDIA}/p/preview.gif"' in html and 'width="400" height="225"' in html


def test_snippet_escapes_every_value() -> None:
    row = _row(
        first_name="<script>alert(1)</script>",
        last_name='"><img src=x onerror=alert(1)>',
        watch_url=f'{WATCH}/w/a"onmouseover="alert(1)',
        poster_url=f"{MEDIA}/p/poster.jpg?a=1&b=<2>",
    )
    html = export.email_snippet(row, size=(480, 270))
    assert html is not None
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert f'href="{WATCH}/w/a&quot;onmouseover=&quot;alert(1)"' in html
    assert 'src="https://media.example.com/p/poster.jpg?a=1&amp;b=&lt;2&gt;"' in html
    assert html.count("<") == html.count(">") == 3  # only <a>, <img> and </a>


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "/relative/path",
        "https://",
        "http://exa mple.com/",
    ],
)
def test_only_http_urls_go_in_href_and_src(url: str) -> None:
    assert export.http_url(url) is None
    # a bad link: the picture stands alone
    alone = export.email_snippet(_row(watch_url=url), size=(480, 270))
    assert alone is not None and alone.startswith("<img ") and "href" not in alone
    # a bad picture: a text link
    text = export.email_snippet(_row(poster_url=url), size=(480, 270))
    assert text is not None and "<img" not in text and text.startswith(f'<a href="{WATCH}/w/tok123"')
    assert "Watch the video made for Siobhan Ní Bhriain" in text
    # neither: nothing
    assert export.email_snippet(_row(watch_url=url, poster_url=url)) is None


def test_snippet_size_keeps_the_video_aspect() -> None:
    assert export.snippet_size((1280, 720)) == (480, 270)
    assert export.snippet_size((720, 1280)) == (270, 480)  # portrait: fits the height
    assert export.snippet_size(None) == (480, 270)
    assert export.snippet_size((1280, 720), SnippetImage.GIF) == (400, 225)  # never wider than made


def test_html_export_is_a_page_of_escaped_snippets() -> None:
    evil = _prospect("<script>alert(1)</script>", email="evil@example.com")
    done = _prospect("Ann")
    built, _ = _csv([evil, done], [_video(done)])

    page = export.html_bytes(built, title="Q4 <launch>", size=(480, 270)).decode()

    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;evil@example.com&gt;" in page
    assert "<title>Q4 &lt;launch&gt;</title>" in page
    assert page.count("<section") == 2
    assert f'href="{WATCH}/w/{done.watch_token}"' in page  # Ann's snippet, shown
    assert "&lt;a href=&quot;" in page  # and as source to paste
    assert "1 of 2 prospects have no finished video yet" in page  # the warnings


# --------------------------------------------------------------------------- use cases, on fakes


class World:
    def __init__(self) -> None:
        self.prospects = fakes.FakeProspectRepository()
        self.videos = fakes.FakeVideoRepository()
        self.files = fakes.FakeObjectStore("tailorcast-test-uploads")
        self.ports = export.ExportPorts(self.prospects, self.videos, self.files, _media_url)
        ladder = Ladder(
            prefix="p",
            master="main.m3u8",
            audio_playlist="a.m3u8",
            pcm="audio.wav",
            renditions=["main_720p.m3u8"],
            width=1280,
            height=720,
            fps=30,
            duration_seconds=10.0,
            segment_count=5,
        )
        self.campaign = Campaign(
            account_id=ACCOUNT,
            campaign_id=CAMPAIGN,
            name="Q4 launch: EMEA/APAC",
            base_video=BaseVideo(
                upload_id="upl_1", key="k", filename="f.mp4", status=UploadStatus.READY, ladder=ladder
            ),
        )

    def add(self, first_name: str, status: VideoStatus | None = None, **fields: Any) -> Prospect:
        prospect = self.prospects.add(_prospect(first_name, **fields))
        if status is not None:
            self.videos.save(_video(prospect, status))
        return prospect


@pytest.fixture
def world() -> World:
    return World()


def test_export_campaign_stores_the_csv_privately_and_links_to_it(world: World) -> None:
    ann = world.add("Ann", VideoStatus.COMPLETED, custom_fields={"Region": "EMEA"})
    world.add("=1+1", VideoStatus.FAILED)
    world.add("Cy")
    at = datetime(2026, 11, 23, 9, 30, 5, tzinfo=UTC)

    done = export.export_campaign(
        world.ports, world.campaign, watch_base_url=WATCH, url_ttl_seconds=600, now=at
    )

    assert done.filename == "q4-launch-emea-apac-prospects-20261123-093005.csv"
    assert done.key.startswith(f"exports/{ACCOUNT}/{CAMPAIGN}/exp_") and done.key.endswith(done.filename)
    assert done.key.startswith(export.export_prefix(ACCOUNT, CAMPAIGN))
    assert world.files.content_types[done.key] == "text/csv; charset=utf-8"
    assert (
        done.url
        == f"https://tailorcast-test-uploads.invalid/{done.key}?expires_in=600&filename={done.filename}"
    )
    assert (done.format, done.rows, done.expires_in) == (ExportFormat.CSV, 3, 600)
    data = world.files.objects[done.key]
    assert done.size_bytes == len(data)
    rows = _by_column(_rows(data))
    assert [r["first_name"] for r in rows] == ["Ann", "'=1+1", "Cy"]  # oldest first
    assert rows[0]["gif_url"].endswith(f"/videos/{ann.prospect_id}/rnd_1/preview.gif")
    assert done.columns[-1] == "Region" and list(rows[0]) == done.columns
    assert any("2 of 3 prospects have no finished video yet" in w for w in done.warnings)


def test_export_campaign_as_html_with_gifs(world: World) -> None:
    ann = world.add("Ann", VideoStatus.COMPLETED)
    world.add("Bo", VideoStatus.FAILED)

    done = export.export_campaign(
        world.ports,
        world.campaign,
        fmt=ExportFormat.HTML,
        status=VideoStatus.COMPLETED,
        image=SnippetImage.GIF,
        watch_base_url=WATCH,
        url_ttl_seconds=600,
    )

    assert done.filename.endswith(".html") and "-snippets-" in done.filename
    assert world.files.content_types[done.key] == "text/html; charset=utf-8"
    assert (done.rows, done.columns) == (1, [])
    page = world.files.objects[done.key].decode()
    assert f'<a href="{WATCH}/w/{ann.watch_token}"' in page and 'width="400" height="225"' in page
    assert "/preview.gif" in page and "Bo" not in page


def test_prospect_snippet(world: World) -> None:
    ann = world.add("Ann", VideoStatus.COMPLETED)
    bo = world.add("Bo")

    found = export.prospect_snippet(world.ports, world.campaign, ann.prospect_id, watch_base_url=WATCH)
    assert found.html is not None and found.html.startswith(f'<a href="{WATCH}/w/{ann.watch_token}"')
    assert 'width="480" height="270"' in found.html and found.poster_url and found.gif_url
    assert (found.video_status, found.warnings) == (VideoStatus.COMPLETED, [])

    pending = export.prospect_snippet(world.ports, world.campaign, bo.prospect_id, watch_base_url=None)
    assert (pending.html, pending.watch_url, pending.poster_url) == (None, None, None)
    assert pending.video_status is VideoStatus.PENDING
    assert any("TAILORCAST_WATCH_BASE_URL" in w for w in pending.warnings)

    with pytest.raises(NotFoundError):
        export.prospect_snippet(world.ports, world.campaign, "pros_nope", watch_base_url=WATCH)
