"""A small typed client of the Tailorcast REST API (used by the CLI, the demo, the benchmarks and
e2e tests).

Every method returns the API's own response model (the pydantic classes the routes declare, from
``chalicelib.api``), validated from the JSON: a field renamed in the API fails here, not three
calls later. Routes without a model return their natural type (bytes, ``None``).
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from chalicelib.api.accounts import UsageOut
from chalicelib.api.analytics import CampaignAnalyticsOut, ProspectAnalyticsOut
from chalicelib.api.billing import BillingOut, UrlOut
from chalicelib.api.exports import ExportOut, SnippetOut
from chalicelib.api.prospects import BulkDeleteOut, ProspectOut, ProspectPage, ProspectStatsOut
from chalicelib.api.renders import BatchOut, BatchPage, BatchProspects
from chalicelib.api.schemas import CampaignOut, CsvImportOut, ImportPreviewOut, MeOut, UploadOut
from chalicelib.api.videos import DownloadOut, VideoOut
from chalicelib.api.voice import PreviewOut, PronunciationOut
from chalicelib.api.watch import MarkSentOut, WatchLinkOut
from chalicelib.api.webhooks import (
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookList,
    WebhookOut,
    WebhookTestOut,
)
from chalicelib.domain.models import CampaignVoice

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def poll(fetch: Callable[[], R], done: Callable[[R], bool], timeout: float, interval: float = 0.2) -> R:
    """Call ``fetch`` until ``done`` says yes of its answer or ``timeout`` seconds pass; the last
    answer either way (the caller reads its status)."""
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(interval)


class ApiError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        fields = "; ".join(f"{f['field']}: {f['message']}" for f in error.get("fields", []))
        super().__init__(f"{status} {error.get('message', body)}" + (f" ({fields})" if fields else ""))
        self.status = status
        self.body = body


class TailorcastClient:
    """``refresh``: called when the API answers 401 (the access token expired or was revoked); the
    new access token it returns is used and the request sent again once (``None``: give up)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        timeout: float = 30.0,
        refresh: Callable[[], str | None] | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
        self._refresh = refresh

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code == 401 and self._refresh is not None:
            token = self._refresh()
            if token:
                self._http.headers["Authorization"] = f"Bearer {token}"
                response = self._http.request(method, path, **kwargs)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body

    def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        """One call whose reply is ``model``."""
        return model.model_validate(self._call(method, path, **kwargs))

    def me(self) -> MeOut:
        return self._model(MeOut, "GET", "/me")

    def usage(self) -> UsageOut:
        return self._model(UsageOut, "GET", "/me/usage")

    def checkout(self, plan: str) -> str:
        """The hosted checkout page's URL for subscribing to ``plan``."""
        return self._model(UrlOut, "POST", "/billing/checkout", json={"plan": plan}).url

    def billing_portal(self) -> str:
        return self._model(UrlOut, "POST", "/billing/portal").url

    def billing(self) -> BillingOut:
        return self._model(BillingOut, "GET", "/billing")

    def create_campaign(self, name: str, description: str = "", script: str = "") -> CampaignOut:
        return self._model(
            CampaignOut,
            "POST",
            "/campaigns",
            json={"name": name, "description": description, "script": script},
        )

    def campaign(self, campaign_id: str) -> CampaignOut:
        return self._model(CampaignOut, "GET", f"/campaigns/{campaign_id}")

    def upload(
        self,
        campaign_id: str,
        kind: str,
        path: Path,
        content_type: str | None = None,
        mapping: dict[str, str] | None = None,
    ) -> UploadOut:
        """Ask for a presigned POST and send the file to it, as a browser would."""
        content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        request: dict[str, Any] = {
            "kind": kind,
            "filename": path.name,
            "content_type": content_type,
            "size_bytes": path.stat().st_size,
        }
        if mapping is not None:
            request["mapping"] = mapping
        ticket = self._model(UploadOut, "POST", f"/campaigns/{campaign_id}/uploads", json=request)
        with path.open("rb") as fh:
            response = httpx.post(
                ticket.url,
                data=ticket.fields,
                files={"file": (path.name, fh, content_type)},
                timeout=120,
            )
        if response.status_code >= 300:
            raise ApiError(response.status_code, {"error": {"message": response.text[:300]}})
        return ticket

    def preview_import(
        self, campaign_id: str, data: bytes, mapping: dict[str, str] | None = None, sample: int = 20
    ) -> ImportPreviewOut:
        """What importing ``data`` (a CSV) into the campaign would do; nothing is written."""
        params: dict[str, Any] = {"sample": sample}
        if mapping is not None:
            params["mapping"] = json.dumps(mapping)
        return self._model(
            ImportPreviewOut,
            "POST",
            f"/campaigns/{campaign_id}/imports/preview",
            params=params,
            content=data,
            headers={"Content-Type": "text/csv"},
        )

    def csv_import(self, campaign_id: str, import_id: str) -> CsvImportOut:
        return self._model(CsvImportOut, "GET", f"/campaigns/{campaign_id}/imports/{import_id}")

    def wait_for_import(self, campaign_id: str, import_id: str, timeout: float = 120.0) -> CsvImportOut:
        """Poll until the CSV import is completed or rejected."""
        return poll(
            lambda: self.csv_import(campaign_id, import_id),
            lambda found: found.status in ("completed", "rejected"),
            timeout,
        )

    def prospects(
        self,
        campaign_id: str,
        q: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        order: str | None = None,
    ) -> list[ProspectOut]:
        """Every prospect of the campaign (all pages), or those matching ``q`` / ``status``, in
        ``sort`` order (``created``, ``name``, ``email``, ``company``, ``status``; ``asc``/``desc``)."""
        items: list[ProspectOut] = []
        cursor: str | None = None
        wanted = {k: v for k, v in {"q": q, "status": status, "sort": sort, "order": order}.items() if v}
        while True:
            params = {"limit": 100, **wanted, **({"cursor": cursor} if cursor else {})}
            page = self._model(ProspectPage, "GET", f"/campaigns/{campaign_id}/prospects", params=params)
            items += page.items
            cursor = page.cursor
            if not cursor:
                return items

    def prospect(self, campaign_id: str, prospect_id: str) -> ProspectOut:
        return self._model(ProspectOut, "GET", f"/campaigns/{campaign_id}/prospects/{prospect_id}")

    def update_prospect(
        self, campaign_id: str, prospect_id: str, if_match: int | None = None, **changes: Any
    ) -> ProspectOut:
        """``PATCH`` a prospect (e.g. ``pronunciation="shi-VAWN"``; None removes it); with
        ``if_match`` (its ``version``) a stale copy is refused with 412."""
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
        return self._model(
            ProspectOut,
            "PATCH",
            f"/campaigns/{campaign_id}/prospects/{prospect_id}",
            json=changes,
            headers=headers,
        )

    def delete_prospect(self, campaign_id: str, prospect_id: str) -> None:
        self._call("DELETE", f"/campaigns/{campaign_id}/prospects/{prospect_id}")

    @staticmethod
    def _selection(
        prospect_ids: list[str] | None, q: str | None, status: str | None, everyone: bool
    ) -> dict[str, Any]:
        if prospect_ids is not None:
            return {"prospect_ids": prospect_ids}
        if q is None and status is None and not everyone:
            raise ValueError("give prospect_ids, q or status, or everyone=True")
        return {"filter": {k: v for k, v in {"q": q, "status": status}.items() if v is not None}}

    def bulk_delete_prospects(
        self,
        campaign_id: str,
        prospect_ids: list[str] | None = None,
        q: str | None = None,
        status: str | None = None,
        everyone: bool = False,
    ) -> BulkDeleteOut:
        """Delete by ids or by filter; the reply has ``deleted_ids``, ``skipped`` (with reasons)
        and ``more`` (send it again to go on)."""
        return self._model(
            BulkDeleteOut,
            "POST",
            f"/campaigns/{campaign_id}/prospects/bulk-delete",
            json=self._selection(prospect_ids, q, status, everyone),
        )

    def bulk_render_prospects(
        self,
        campaign_id: str,
        prospect_ids: list[str] | None = None,
        q: str | None = None,
        status: str | None = None,
        everyone: bool = False,
        force: bool = False,
    ) -> BatchOut:
        """Re-render by ids or by filter as one batch; returns the batch."""
        body = {**self._selection(prospect_ids, q, status, everyone), "force": force}
        return self._model(BatchOut, "POST", f"/campaigns/{campaign_id}/prospects/bulk-render", json=body)

    def prospect_stats(self, campaign_id: str) -> ProspectStatsOut:
        return self._model(ProspectStatsOut, "GET", f"/campaigns/{campaign_id}/prospects/stats")

    def video(self, campaign_id: str, prospect_id: str) -> VideoOut:
        return self._model(VideoOut, "GET", f"/campaigns/{campaign_id}/prospects/{prospect_id}/video")

    def download_link(self, campaign_id: str, prospect_id: str) -> DownloadOut:
        return self._model(
            DownloadOut, "POST", f"/campaigns/{campaign_id}/prospects/{prospect_id}/video/download"
        )

    def export(
        self, campaign_id: str, fmt: str = "csv", status: str | None = None, image: str = "poster"
    ) -> ExportOut:
        """Export the campaign for mail merge (``csv``) or as email snippets (``html``): a
        time-limited link to the file, its row count and warnings."""
        request: dict[str, Any] = {"format": fmt, "image": image}
        if status:
            request["status"] = status
        return self._model(ExportOut, "POST", f"/campaigns/{campaign_id}/exports", json=request)

    def snippet(self, campaign_id: str, prospect_id: str, image: str = "poster") -> SnippetOut:
        return self._model(
            SnippetOut,
            "GET",
            f"/campaigns/{campaign_id}/prospects/{prospect_id}/snippet",
            params={"image": image},
        )

    def fetch(self, url: str) -> bytes:
        """What a presigned link points at (sent without our Authorization header: the link
        carries its own signature, and S3 refuses a request signed twice)."""
        response = httpx.get(url, timeout=self._http.timeout)
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.text)
        return response.content

    def wait_for_video(self, campaign_id: str, prospect_id: str, timeout: float = 300.0) -> VideoOut:
        """Poll until the prospect's render is completed or failed."""
        return poll(
            lambda: self.video(campaign_id, prospect_id),
            lambda video: video.status in ("completed", "failed"),
            timeout,
        )

    def wait_for_base_video(self, campaign_id: str, timeout: float = 300.0) -> CampaignOut:
        """Poll until the newest base video upload is ready, rejected or failed (validation, then the
        ladder encode). A replacement of a ready base waits as ``pending_base_video`` until then."""

        def settled(campaign: CampaignOut) -> bool:
            video = campaign.pending_base_video or campaign.base_video
            return video is not None and video.status in ("ready", "rejected", "failed")

        return poll(lambda: self.campaign(campaign_id), settled, timeout)

    # -- voice ---------------------------------------------------------------------------------

    def voice(self, campaign_id: str) -> CampaignVoice:
        return self._model(CampaignVoice, "GET", f"/campaigns/{campaign_id}/voice")

    def update_voice(self, campaign_id: str, **changes: Any) -> CampaignVoice:
        return self._model(CampaignVoice, "PATCH", f"/campaigns/{campaign_id}/voice", json=changes)

    def align_voice(self, campaign_id: str) -> CampaignVoice:
        return self._model(CampaignVoice, "POST", f"/campaigns/{campaign_id}/voice/align")

    def set_slots(self, campaign_id: str, slots: list[dict[str, Any]]) -> CampaignVoice:
        return self._model(
            CampaignVoice, "PUT", f"/campaigns/{campaign_id}/voice/slots", json={"slots": slots}
        )

    def preview_voice(self, campaign_id: str, **names: Any) -> PreviewOut:
        """Synthesize a name into the video's audio; the reply's ``url`` serves the WAV."""
        return self._model(PreviewOut, "POST", f"/campaigns/{campaign_id}/voice/preview", json=names)

    def put_pronunciation(self, name: str, pronunciation: str) -> PronunciationOut:
        return self._model(
            PronunciationOut, "PUT", f"/pronunciations/{name}", json={"pronunciation": pronunciation}
        )

    def wait_for_voice(self, campaign_id: str, timeout: float = 120.0) -> CampaignVoice:
        """Poll until the campaign's voice is ready or needs the seller's attention."""
        return poll(
            lambda: self.voice(campaign_id),
            lambda voice: voice.status in ("ready", "needs_attention"),
            timeout,
        )

    # -- rendering -----------------------------------------------------------------------------

    def start_batch(
        self,
        campaign_id: str,
        prospect_ids: list[str] | None = None,
        force: bool = False,
        tolerated_failure_percent: float | None = None,
    ) -> BatchOut:
        body: dict[str, Any] = {"force": force}
        if prospect_ids is not None:
            body["prospect_ids"] = prospect_ids
        if tolerated_failure_percent is not None:
            body["tolerated_failure_percent"] = tolerated_failure_percent
        return self._model(BatchOut, "POST", f"/campaigns/{campaign_id}/batches", json=body)

    def render_prospect(self, campaign_id: str, prospect_id: str, force: bool = False) -> BatchOut:
        return self._model(
            BatchOut,
            "POST",
            f"/campaigns/{campaign_id}/prospects/{prospect_id}/render",
            json={"force": force},
        )

    def batch(self, campaign_id: str, batch_id: str) -> BatchOut:
        return self._model(BatchOut, "GET", f"/campaigns/{campaign_id}/batches/{batch_id}")

    def batches(self, campaign_id: str) -> list[BatchOut]:
        return self._model(BatchPage, "GET", f"/campaigns/{campaign_id}/batches").items

    def cancel_batch(self, campaign_id: str, batch_id: str) -> BatchOut:
        return self._model(BatchOut, "POST", f"/campaigns/{campaign_id}/batches/{batch_id}/cancel")

    def resume_batch(self, campaign_id: str, batch_id: str) -> BatchOut:
        return self._model(BatchOut, "POST", f"/campaigns/{campaign_id}/batches/{batch_id}/resume")

    def batch_prospects(self, campaign_id: str, batch_id: str, status: str | None = None) -> list[VideoOut]:
        params = {"status": status} if status else None
        path = f"/campaigns/{campaign_id}/batches/{batch_id}/prospects"
        return self._model(BatchProspects, "GET", path, params=params).items

    def wait_for_batch(self, campaign_id: str, batch_id: str, timeout: float = 900.0) -> BatchOut:
        """Poll until the batch is no longer pending or running."""
        return poll(
            lambda: self.batch(campaign_id, batch_id),
            lambda batch: batch.status not in ("pending", "running"),
            timeout,
            interval=0.25,
        )

    def watch_link(self, campaign_id: str, prospect_id: str) -> WatchLinkOut:
        return self._model(
            WatchLinkOut, "GET", f"/campaigns/{campaign_id}/prospects/{prospect_id}/watch-link"
        )

    def mark_sent(self, campaign_id: str, prospect_ids: list[str], sent_at: str | None = None) -> MarkSentOut:
        body: dict[str, Any] = {"prospect_ids": prospect_ids}
        if sent_at:
            body["sent_at"] = sent_at
        return self._model(MarkSentOut, "POST", f"/campaigns/{campaign_id}/prospects/sent", json=body)

    def analytics(self, campaign_id: str, max_age: int | None = None) -> CampaignAnalyticsOut:
        params = {"max_age": max_age} if max_age is not None else {}
        return self._model(CampaignAnalyticsOut, "GET", f"/campaigns/{campaign_id}/analytics", params=params)

    def prospect_analytics(
        self, campaign_id: str, prospect_id: str, max_age: int | None = None
    ) -> ProspectAnalyticsOut:
        params = {"max_age": max_age} if max_age is not None else {}
        path = f"/campaigns/{campaign_id}/prospects/{prospect_id}/analytics"
        return self._model(ProspectAnalyticsOut, "GET", path, params=params)

    def update_campaign(self, campaign_id: str, **changes: Any) -> CampaignOut:
        """``PATCH /campaigns/{id}`` (e.g. ``name_card={"text": "{first_name}"}``; None removes it)."""
        return self._model(CampaignOut, "PATCH", f"/campaigns/{campaign_id}", json=changes)

    # -- webhooks ------------------------------------------------------------------------------

    def create_webhook(
        self, url: str, events: list[str] | None = None, description: str = ""
    ) -> WebhookCreated:
        """Register an endpoint; the reply's ``secret`` is shown this once."""
        body: dict[str, Any] = {"url": url, "description": description}
        if events is not None:
            body["events"] = events
        return self._model(WebhookCreated, "POST", "/webhooks", json=body)

    def webhooks(self) -> list[WebhookOut]:
        return self._model(WebhookList, "GET", "/webhooks").items

    def webhook(self, endpoint_id: str) -> WebhookOut:
        return self._model(WebhookOut, "GET", f"/webhooks/{endpoint_id}")

    def delete_webhook(self, endpoint_id: str) -> None:
        self._call("DELETE", f"/webhooks/{endpoint_id}")

    def webhook_deliveries(self, endpoint_id: str, limit: int = 25) -> list[WebhookDeliveryOut]:
        """The endpoint's deliveries, newest first."""
        path = f"/webhooks/{endpoint_id}/deliveries"
        return self._model(WebhookDeliveryPage, "GET", path, params={"limit": limit}).items

    def send_test_event(self, endpoint_id: str) -> WebhookTestOut:
        """Send a ``webhook.test`` event; the reply names its delivery."""
        return self._model(WebhookTestOut, "POST", f"/webhooks/{endpoint_id}/test")

    def wait_for_delivery(
        self,
        endpoint_id: str,
        delivery_id: str,
        timeout: float = 60.0,
        until: tuple[str, ...] = ("delivered", "failed"),
    ) -> WebhookDeliveryOut | None:
        """Poll until the delivery's status is one of ``until`` (or the timeout passes); ``None``
        when the endpoint never listed it."""
        found = poll(
            lambda: [d for d in self.webhook_deliveries(endpoint_id, 100) if d.delivery_id == delivery_id],
            lambda found: bool(found) and found[0].status in until,
            timeout,
        )
        return found[0] if found else None
