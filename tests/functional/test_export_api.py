"""Export for mail merge over HTTP: the Chalice test client, DynamoDB and S3 in moto.

The export is written to the uploads bucket and handed out as a presigned link; the tests read
the object the link names back from moto's S3.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest

from chalicelib import dependencies
from chalicelib.domain.models import Prospect, ProspectVideo, RenderWindow, VideoStatus, new_id, utcnow
from chalicelib.settings import get_settings
from tests.functional.conftest import Tenant, call

WATCH = "https://watch.example.com"
MEDIA = "https://media.example.com"


def _json(response: Any) -> Any:
    return json.loads(response.body)


@pytest.fixture
def sites(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch site and a media site configured, as in a deployment."""
    monkeypatch.setenv("TAILORCAST_WATCH_BASE_URL", WATCH)
    monkeypatch.setenv("TAILORCAST_MEDIA_BASE_URL", MEDIA)
    dependencies.reset()


def _campaign(client: Any, tenant: Tenant, name: str = "Q4 launch") -> str:
    response = call(client, "POST", "/campaigns", tenant, {"name": name})
    assert response.status_code == 201, response.body
    return str(_json(response)["campaign_id"])


def _prospect(tenant: Tenant, cid: str, first_name: str, **fields: Any) -> Prospect:
    return dependencies.get_prospect_repo().add(
        Prospect(
            account_id=tenant.account_id,
            campaign_id=cid,
            prospect_id=new_id("pros"),
            first_name=first_name,
            email=fields.pop("email", None) or f"{new_id('e')}@example.com",
            **fields,
        )
    )


def _video(tenant: Tenant, cid: str, prospect: Prospect, status: VideoStatus) -> str:
    """The prospect's render in ``status``; returns its media prefix."""
    prefix = f"{tenant.account_id}/{cid}/videos/{prospect.prospect_id}/rnd_1"
    done = status is VideoStatus.COMPLETED
    dependencies.get_video_repo().save(
        ProspectVideo(
            account_id=tenant.account_id,
            campaign_id=cid,
            prospect_id=prospect.prospect_id,
            render_id="rnd_1",
            status=status,
            base_upload_id="upl_x",
            window=RenderWindow(start=1.0, end=1.8),
            first_segment=0,
            segment_count=1,
            prefix=prefix,
            master="index.m3u8" if done else None,
            poster="poster.jpg" if done else None,
            preview="preview.webp" if done else None,
            gif="preview.gif" if done else None,
            completed_at=utcnow() if done else None,
            error="the name does not fit its slot" if status is VideoStatus.FAILED else None,
        )
    )
    return prefix


def _stored(url: str) -> tuple[bytes, dict[str, Any]]:
    """The object a presigned link names (read with boto3 from moto), and the link's query."""
    parts = urlsplit(url)
    bucket = get_settings().uploads_bucket
    path = unquote(parts.path).lstrip("/")
    key = (
        path.removeprefix(f"{bucket}/")
        if not parts.hostname or not parts.hostname.startswith(bucket)
        else path
    )
    obj = boto3.client("s3").get_object(Bucket=bucket, Key=key)
    return obj["Body"].read(), {"key": key, "content_type": obj["ContentType"], **parse_qs(parts.query)}


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    header, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    return [dict(zip(header, row, strict=True)) for row in rows]


# --------------------------------------------------------------------------- CSV


def test_csv_export_is_stored_privately_and_linked(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a campaign with a finished video, a failed one, and a prospect not rendered yet
    me = new_tenant()
    cid = _campaign(client, me)
    ann = _prospect(me, cid, "Ann", last_name="Lee", company="Acme", custom_fields={"Region": "EMEA"})
    evil = _prospect(me, cid, '=HYPERLINK("http://evil","x")', phone="+1 555 0100")
    cy = _prospect(me, cid, "Cy", custom_fields={"Deal size": "10k"})
    prefix = _video(me, cid, ann, VideoStatus.COMPLETED)
    _video(me, cid, evil, VideoStatus.FAILED)

    # WHEN the CSV is exported
    response = call(client, "POST", f"/campaigns/{cid}/exports", me, {})

    # THEN a link to it comes back, not the file itself
    assert response.status_code == 201, response.body
    out = _json(response)
    assert out["format"] == "csv" and out["rows"] == 3 and out["expires_in"] == 3600
    assert out["filename"].startswith("q4-launch-prospects-") and out["filename"].endswith(".csv")
    assert out["columns"][:4] == ["first_name", "last_name", "email", "company"]
    assert out["columns"][-2:] == ["Region", "Deal size"]
    assert out["warnings"] == [
        "2 of 3 prospects have no finished video yet: their poster and GIF cells are empty "
        "(export with status=completed to leave them out)"
    ]
    data, link = _stored(out["url"])
    assert link["key"].startswith(f"exports/{me.account_id}/{cid}/")
    assert link["content_type"] == "text/csv; charset=utf-8"
    assert link["response-content-disposition"] == [f'attachment; filename="{out["filename"]}"']
    assert out["size_bytes"] == len(data)
    # AND the file is a mail-merge CSV: BOM, CRLF, every prospect, formulas neutralized
    assert data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    rows = _csv_rows(data)
    assert [r["prospect_id"] for r in rows] == [ann.prospect_id, evil.prospect_id, cy.prospect_id]
    first, second, third = rows
    assert (first["first_name"], first["last_name"], first["company"], first["Region"]) == (
        "Ann",
        "Lee",
        "Acme",
        "EMEA",
    )
    assert first["watch_url"] == f"{WATCH}/w/{ann.watch_token}"
    assert first["poster_url"] == f"{MEDIA}/{prefix}/poster.jpg"
    assert first["gif_url"] == f"{MEDIA}/{prefix}/preview.gif"
    assert first["video_status"] == "completed"
    assert second["first_name"] == """'=HYPERLINK("http://evil","x")""" and second["phone"] == "'+1 555 0100"
    assert (second["video_status"], second["poster_url"], second["gif_url"]) == ("failed", "", "")
    assert (third["video_status"], third["Deal size"], third["Region"]) == ("pending", "10k", "")


def test_status_filter_exports_only_finished_videos(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me)
    ann, bo = _prospect(me, cid, "Ann"), _prospect(me, cid, "Bo")
    _video(me, cid, ann, VideoStatus.COMPLETED)
    _video(me, cid, bo, VideoStatus.RENDERING)

    out = _json(call(client, "POST", f"/campaigns/{cid}/exports", me, {"status": "completed"}))

    assert out["rows"] == 1 and out["warnings"] == []
    data, _ = _stored(out["url"])
    assert [r["first_name"] for r in _csv_rows(data)] == ["Ann"]


def test_without_a_watch_site_watch_links_are_empty_and_the_export_says_so(
    client, new_tenant, aws, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("TAILORCAST_WATCH_BASE_URL", raising=False)
    monkeypatch.setenv("TAILORCAST_MEDIA_BASE_URL", MEDIA)
    dependencies.reset()
    me = new_tenant()
    cid = _campaign(client, me)
    ann = _prospect(me, cid, "Ann")
    _video(me, cid, ann, VideoStatus.COMPLETED)

    out = _json(call(client, "POST", f"/campaigns/{cid}/exports", me, {}))

    assert any("TAILORCAST_WATCH_BASE_URL is not set" in w for w in out["warnings"]), out
    [row] = _csv_rows(_stored(out["url"])[0])
    assert row["watch_url"] == "" and row["poster_url"].startswith(MEDIA)


def test_an_empty_campaign_exports_a_header(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me)
    out = _json(call(client, "POST", f"/campaigns/{cid}/exports", me, {}))
    data, _ = _stored(out["url"])
    assert out["rows"] == 0 and data.count(b"\r\n") == 1 and data.startswith(b'\xef\xbb\xbf"first_name"')


# --------------------------------------------------------------------------- HTML and snippets


def test_html_export_has_each_prospects_snippet(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me, name="<b>Q4</b>")
    ann = _prospect(me, cid, "<script>alert(1)</script>")
    prefix = _video(me, cid, ann, VideoStatus.COMPLETED)

    response = call(client, "POST", f"/campaigns/{cid}/exports", me, {"format": "html", "image": "gif"})

    assert response.status_code == 201, response.body
    out = _json(response)
    assert out["filename"].startswith("b-q4-b-snippets-") and out["filename"].endswith(".html")
    assert out["columns"] == [] and out["rows"] == 1
    data, link = _stored(out["url"])
    assert link["content_type"] == "text/html; charset=utf-8"
    page = data.decode()
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;Q4&lt;/b&gt;" in page
    assert f'<a href="{WATCH}/w/{ann.watch_token}"' in page
    assert f'src="{MEDIA}/{prefix}/preview.gif"' in page


def test_prospect_snippet(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me)
    ann, bo = _prospect(me, cid, "Ann"), _prospect(me, cid, "Bo")
    prefix = _video(me, cid, ann, VideoStatus.COMPLETED)

    response = call(client, "GET", f"/campaigns/{cid}/prospects/{ann.prospect_id}/snippet", me)

    assert response.status_code == 200, response.body
    out = _json(response)
    assert out["watch_url"] == f"{WATCH}/w/{ann.watch_token}"
    assert (out["poster_url"], out["gif_url"]) == (
        f"{MEDIA}/{prefix}/poster.jpg",
        f"{MEDIA}/{prefix}/preview.gif",
    )
    assert out["html"].startswith(f'<a href="{WATCH}/w/{ann.watch_token}"')
    assert f'src="{MEDIA}/{prefix}/poster.jpg"' in out["html"]
    assert (out["video_status"], out["warnings"]) == ("completed", [])

    gif = _json(call(client, "GET", f"/campaigns/{cid}/prospects/{ann.prospect_id}/snippet?image=gif", me))
    assert f'src="{MEDIA}/{prefix}/preview.gif"' in gif["html"]

    pending = _json(call(client, "GET", f"/campaigns/{cid}/prospects/{bo.prospect_id}/snippet", me))
    assert pending["video_status"] == "pending" and pending["poster_url"] is None
    assert pending["html"] == (
        f'<a href="{WATCH}/w/{bo.watch_token}" target="_blank" rel="noopener" '
        'style="color:#1a73e8;text-decoration:underline;">Watch the video made for Bo</a>'
    )


# --------------------------------------------------------------------------- errors and isolation


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "xlsx"}, "body.format"),
        ({"status": "done"}, "body.status"),
        ({"image": "webp"}, "body.image"),
        ({"formta": "csv"}, "body.formta"),
    ],
)
def test_bad_export_requests_are_422(client, new_tenant, sites, body, field) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me)
    response = call(client, "POST", f"/campaigns/{cid}/exports", me, body)
    assert response.status_code == 422
    assert [f["field"] for f in _json(response)["error"]["fields"]] == [field]


def test_bad_snippet_query_is_422_and_an_unknown_prospect_404(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me)
    ann = _prospect(me, cid, "Ann")
    bad = call(client, "GET", f"/campaigns/{cid}/prospects/{ann.prospect_id}/snippet?image=png", me)
    assert bad.status_code == 422 and _json(bad)["error"]["fields"][0]["field"] == "query.image"
    missing = call(client, "GET", f"/campaigns/{cid}/prospects/pros_01aaaaaaaaaaaaaaaaaaaaaaaa/snippet", me)
    assert missing.status_code == 404


def test_another_tenants_campaign_is_not_found(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    alice, mallory = new_tenant("alice@a.io"), new_tenant("mallory@m.io")
    cid = _campaign(client, alice)
    ann = _prospect(alice, cid, "Ann")
    assert call(client, "POST", f"/campaigns/{cid}/exports", mallory, {}).status_code == 404
    snippet = call(client, "GET", f"/campaigns/{cid}/prospects/{ann.prospect_id}/snippet", mallory)
    assert snippet.status_code == 404
    # Mallory's own campaign cannot name Alice's prospect either
    own = _campaign(client, mallory)
    assert (
        call(client, "GET", f"/campaigns/{own}/prospects/{ann.prospect_id}/snippet", mallory).status_code
        == 404
    )
    listed = boto3.client("s3").list_objects_v2(Bucket=get_settings().uploads_bucket, Prefix="exports/")
    assert listed["KeyCount"] == 0  # nothing was written


def test_deleting_the_campaign_deletes_its_exports(client, new_tenant, sites) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, other = _campaign(client, me), _campaign(client, me, name="other")
    _prospect(me, cid, "Ann")
    for campaign_id in (cid, other):
        assert call(client, "POST", f"/campaigns/{campaign_id}/exports", me, {}).status_code == 201
    s3, bucket = boto3.client("s3"), get_settings().uploads_bucket

    assert call(client, "DELETE", f"/campaigns/{cid}", me).status_code == 204

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="exports/").get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith(f"exports/{me.account_id}/{other}/")
