"""A small typed client of the Tailorcast REST API (used by the CLI, the demo and e2e tests)."""

from __future__ import annotations

import json
import mimetypes
import time
from pathlib import Path
from typing import Any

import httpx


class ApiError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        fields = "; ".join(f"{f['field']}: {f['message']}" for f in error.get("fields", []))
        super().__init__(f"{status} {error.get('message', body)}" + (f" ({fields})" if fields else ""))
        self.status = status
        self.body = body


class TailorcastClient:
    def __init__(self, api_url: str, token: str, timeout: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body

    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/me")
        return result

    def create_campaign(self, name: str, description: str = "", script: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/campaigns", json={"name": name, "description": description, "script": script}
        )
        return result

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}")
        return result

    def upload(
        self,
        campaign_id: str,
        kind: str,
        path: Path,
        content_type: str | None = None,
        mapping: dict[str, str] | None = None,
    ) -> dict[str, Any]:
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
        ticket: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/uploads", json=request)
        with path.open("rb") as fh:
            response = httpx.post(
                ticket["url"],
                data=ticket["fields"],
                files={"file": (path.name, fh, content_type)},
                timeout=120,
            )
        if response.status_code >= 300:
            raise ApiError(response.status_code, {"error": {"message": response.text[:300]}})
        return ticket

    def preview_import(
        self, campaign_id: str, data: bytes, mapping: dict[str, str] | None = None, sample: int = 20
    ) -> dict[str, Any]:
        """What importing ``data`` (a CSV) into the campaign would do; nothing is written."""
        params: dict[str, Any] = {"sample": sample}
        if mapping is not None:
            params["mapping"] = json.dumps(mapping)
        result: dict[str, Any] = self._call(
            "POST",
            f"/campaigns/{campaign_id}/imports/preview",
            params=params,
            content=data,
            headers={"Content-Type": "text/csv"},
        )
        return result

    def csv_import(self, campaign_id: str, import_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/imports/{import_id}")
        return result

    def wait_for_import(self, campaign_id: str, import_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Poll until the CSV import is completed or rejected."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.csv_import(campaign_id, import_id)
            if found["status"] in ("completed", "rejected") or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def prospects(
        self,
        campaign_id: str,
        q: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every prospect of the campaign (all pages), or those matching ``q`` / ``status``, in
        ``sort`` order (``created``, ``name``, ``email``, ``company``, ``status``; ``asc``/``desc``)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        wanted = {k: v for k, v in {"q": q, "status": status, "sort": sort, "order": order}.items() if v}
        while True:
            params = {"limit": 100, **wanted, **({"cursor": cursor} if cursor else {})}
            page: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/prospects", params=params)
            items += page["items"]
            cursor = page.get("cursor")
            if not cursor:
                return items

    def prospect(self, campaign_id: str, prospect_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/prospects/{prospect_id}")
        return result

    def update_prospect(
        self, campaign_id: str, prospect_id: str, if_match: int | None = None, **changes: Any
    ) -> dict[str, Any]:
        """``PATCH`` a prospect (e.g. ``pronunciation="shi-VAWN"``; None removes it); with
        ``if_match`` (its ``version``) a stale copy is refused with 412."""
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
        result: dict[str, Any] = self._call(
            "PATCH", f"/campaigns/{campaign_id}/prospects/{prospect_id}", json=changes, headers=headers
        )
        return result

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
    ) -> dict[str, Any]:
        """Delete by ids or by filter; the reply has ``deleted_ids``, ``skipped`` (with reasons)
        and ``more`` (send it again to go on)."""
        result: dict[str, Any] = self._call(
            "POST",
            f"/campaigns/{campaign_id}/prospects/bulk-delete",
            json=self._selection(prospect_ids, q, status, everyone),
        )
        return result

    def bulk_render_prospects(
        self,
        campaign_id: str,
        prospect_ids: list[str] | None = None,
        q: str | None = None,
        status: str | None = None,
        everyone: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """Re-render by ids or by filter as one batch; returns the batch."""
        body = {**self._selection(prospect_ids, q, status, everyone), "force": force}
        result: dict[str, Any] = self._call(
            "POST", f"/campaigns/{campaign_id}/prospects/bulk-render", json=body
        )
        return result

    def prospect_stats(self, campaign_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/prospects/stats")
        return result

    def video(self, campaign_id: str, prospect_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/prospects/{prospect_id}/video")
        return body

    def download_link(self, campaign_id: str, prospect_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._call(
            "POST", f"/campaigns/{campaign_id}/prospects/{prospect_id}/video/download"
        )
        return body

    def export(
        self, campaign_id: str, fmt: str = "csv", status: str | None = None, image: str = "poster"
    ) -> dict[str, Any]:
        """Export the campaign for mail merge (``csv``) or as email snippets (``html``): a
        time-limited link to the file, its row count and warnings."""
        request: dict[str, Any] = {"format": fmt, "image": image}
        if status:
            request["status"] = status
        body: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/exports", json=request)
        return body

    def snippet(self, campaign_id: str, prospect_id: str, image: str = "poster") -> dict[str, Any]:
        body: dict[str, Any] = self._call(
            "GET", f"/campaigns/{campaign_id}/prospects/{prospect_id}/snippet", params={"image": image}
        )
        return body

    def fetch(self, url: str) -> bytes:
        """What a presigned link points at (sent without our Authorization header: the link
        carries its own signature, and S3 refuses a request signed twice)."""
        response = httpx.get(url, timeout=self._http.timeout)
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.text)
        return response.content

    def wait_for_video(self, campaign_id: str, prospect_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """Poll until the prospect's render is completed or failed."""
        deadline = time.monotonic() + timeout
        while True:
            video = self.video(campaign_id, prospect_id)
            if video["status"] in ("completed", "failed") or time.monotonic() > deadline:
                return video
            time.sleep(0.2)

    def wait_for_base_video(self, campaign_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """Poll until the newest base video upload is ready, rejected or failed (validation, then the
        ladder encode). A replacement of a ready base waits as ``pending_base_video`` until then."""
        deadline = time.monotonic() + timeout
        while True:
            campaign = self.campaign(campaign_id)
            video = campaign.get("pending_base_video") or campaign.get("base_video") or {}
            if video.get("status") in ("ready", "rejected", "failed") or time.monotonic() > deadline:
                return campaign
            time.sleep(0.2)

    # -- voice ---------------------------------------------------------------------------------

    def voice(self, campaign_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/voice")
        return result

    def update_voice(self, campaign_id: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/campaigns/{campaign_id}/voice", json=changes)
        return result

    def align_voice(self, campaign_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/voice/align")
        return result

    def set_slots(self, campaign_id: str, slots: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", f"/campaigns/{campaign_id}/voice/slots", json={"slots": slots}
        )
        return result

    def preview_voice(self, campaign_id: str, **names: Any) -> dict[str, Any]:
        """Synthesize a name into the video's audio; the reply's ``url`` serves the WAV."""
        result: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/voice/preview", json=names)
        return result

    def put_pronunciation(self, name: str, pronunciation: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", f"/pronunciations/{name}", json={"pronunciation": pronunciation}
        )
        return result

    def wait_for_voice(self, campaign_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Poll until the campaign's voice is ready or needs the seller's attention."""
        deadline = time.monotonic() + timeout
        while True:
            voice = self.voice(campaign_id)
            if voice["status"] in ("ready", "needs_attention") or time.monotonic() > deadline:
                return voice
            time.sleep(0.2)

    # -- rendering -----------------------------------------------------------------------------

    def start_batch(
        self,
        campaign_id: str,
        prospect_ids: list[str] | None = None,
        force: bool = False,
        tolerated_failure_percent: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"force": force}
        if prospect_ids is not None:
            body["prospect_ids"] = prospect_ids
        if tolerated_failure_percent is not None:
            body["tolerated_failure_percent"] = tolerated_failure_percent
        result: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/batches", json=body)
        return result

    def render_prospect(self, campaign_id: str, prospect_id: str, force: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/campaigns/{campaign_id}/prospects/{prospect_id}/render", json={"force": force}
        )
        return result

    def batch(self, campaign_id: str, batch_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/batches/{batch_id}")
        return result

    def batches(self, campaign_id: str) -> list[dict[str, Any]]:
        result: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/batches")
        return list(result["items"])

    def cancel_batch(self, campaign_id: str, batch_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/batches/{batch_id}/cancel")
        return result

    def resume_batch(self, campaign_id: str, batch_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/batches/{batch_id}/resume")
        return result

    def batch_prospects(
        self, campaign_id: str, batch_id: str, status: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"status": status} if status else None
        result: dict[str, Any] = self._call(
            "GET", f"/campaigns/{campaign_id}/batches/{batch_id}/prospects", params=params
        )
        return list(result["items"])

    def wait_for_batch(self, campaign_id: str, batch_id: str, timeout: float = 900.0) -> dict[str, Any]:
        """Poll until the batch is no longer pending or running."""
        deadline = time.monotonic() + timeout
        while True:
            batch = self.batch(campaign_id, batch_id)
            if batch["status"] not in ("pending", "running") or time.monotonic() > deadline:
                return batch
            time.sleep(0.25)

    def watch_link(self, campaign_id: str, prospect_id: str) -> dict[str, Any]:
        link: dict[str, Any] = self._call(
            "GET", f"/campaigns/{campaign_id}/prospects/{prospect_id}/watch-link"
        )
        return link

    def mark_sent(
        self, campaign_id: str, prospect_ids: list[str], sent_at: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"prospect_ids": prospect_ids}
        if sent_at:
            body["sent_at"] = sent_at
        marked: dict[str, Any] = self._call("POST", f"/campaigns/{campaign_id}/prospects/sent", json=body)
        return marked

    def analytics(self, campaign_id: str, max_age: int | None = None) -> dict[str, Any]:
        params = {"max_age": max_age} if max_age is not None else {}
        report: dict[str, Any] = self._call("GET", f"/campaigns/{campaign_id}/analytics", params=params)
        return report

    def prospect_analytics(
        self, campaign_id: str, prospect_id: str, max_age: int | None = None
    ) -> dict[str, Any]:
        params = {"max_age": max_age} if max_age is not None else {}
        path = f"/campaigns/{campaign_id}/prospects/{prospect_id}/analytics"
        report: dict[str, Any] = self._call("GET", path, params=params)
        return report

    def update_campaign(self, campaign_id: str, **changes: Any) -> dict[str, Any]:
        """``PATCH /campaigns/{id}`` (e.g. ``name_card={"text": "{first_name}"}``; None removes it)."""
        result: dict[str, Any] = self._call("PATCH", f"/campaigns/{campaign_id}", json=changes)
        return result

    # -- webhooks ------------------------------------------------------------------------------

    def create_webhook(
        self, url: str, events: list[str] | None = None, description: str = ""
    ) -> dict[str, Any]:
        """Register an endpoint; the reply's ``secret`` is shown this once."""
        body: dict[str, Any] = {"url": url, "description": description}
        if events is not None:
            body["events"] = events
        result: dict[str, Any] = self._call("POST", "/webhooks", json=body)
        return result

    def webhooks(self) -> list[dict[str, Any]]:
        result: dict[str, Any] = self._call("GET", "/webhooks")
        return list(result["items"])

    def webhook(self, endpoint_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/webhooks/{endpoint_id}")
        return result

    def delete_webhook(self, endpoint_id: str) -> None:
        self._call("DELETE", f"/webhooks/{endpoint_id}")

    def webhook_deliveries(self, endpoint_id: str, limit: int = 25) -> list[dict[str, Any]]:
        """The endpoint's deliveries, newest first."""
        result: dict[str, Any] = self._call(
            "GET", f"/webhooks/{endpoint_id}/deliveries", params={"limit": limit}
        )
        return list(result["items"])

    def send_test_event(self, endpoint_id: str) -> dict[str, Any]:
        """Send a ``webhook.test`` event; the reply names its delivery."""
        result: dict[str, Any] = self._call("POST", f"/webhooks/{endpoint_id}/test")
        return result

    def wait_for_delivery(
        self,
        endpoint_id: str,
        delivery_id: str,
        timeout: float = 60.0,
        until: tuple[str, ...] = ("delivered", "failed"),
    ) -> dict[str, Any]:
        """Poll until the delivery's status is one of ``until`` (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.webhook_deliveries(endpoint_id, 100) if d["delivery_id"] == delivery_id]
            if (found and found[0]["status"] in until) or time.monotonic() > deadline:
                return found[0] if found else {}
            time.sleep(0.2)
