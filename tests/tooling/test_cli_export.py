"""``tailorcast prospects export`` against a fake API client: the file written, options, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chalicelib.api.exports import ExportOut
from chalicelib.domain.export import ExportFormat
from tailorcast_cli import main
from tailorcast_cli.client import ApiError

CSV = b'\xef\xbb\xbf"first_name","watch_url"\r\n"Ann","https://w.example/w/t"\r\n'


class FakeClient:
    def __init__(self, error: ApiError | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.error = error
        self.closed = False

    def export(self, campaign_id: str, fmt: str, status: str | None, image: str) -> ExportOut:
        self.calls.append(("export", (campaign_id, fmt, status, image)))
        if self.error is not None:
            raise self.error
        return ExportOut(
            url="https://uploads.invalid/exports/x.csv?sig=1",
            expires_in=3600,
            filename=f"q4-prospects-20261123-093005.{fmt}",
            format=ExportFormat(fmt),
            rows=1,
            columns=["first_name", "watch_url"],
            size_bytes=len(CSV),
            warnings=["watch links are empty: no watch site is configured"],
        )

    def fetch(self, url: str) -> bytes:
        self.calls.append(("fetch", url))
        return CSV

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(main, "_render_client", lambda state_dir, token: client)
    return client


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main.app, ["prospects", "export", *args], env={"TAILORCAST_TOKEN": "t"})


def test_export_writes_the_file_under_its_own_name(fake: FakeClient, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = invoke("--campaign", "camp_1")
    assert result.exit_code == 0, result.output
    assert fake.calls == [
        ("export", ("camp_1", "csv", None, "poster")),
        ("fetch", "https://uploads.invalid/exports/x.csv?sig=1"),
    ]
    written = tmp_path / "q4-prospects-20261123-093005.csv"
    assert written.read_bytes() == CSV  # byte for byte: the BOM and CRLF kept
    assert result.stdout.strip() == "q4-prospects-20261123-093005.csv"
    assert "watch links are empty" in result.output
    assert fake.closed


def test_export_html_of_finished_videos_to_a_chosen_file(fake: FakeClient, tmp_path: Path) -> None:
    out = tmp_path / "snippets.html"
    result = invoke(
        "-c", "camp_1", "--format", "html", "--status", "completed", "--image", "gif", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert fake.calls[0] == ("export", ("camp_1", "html", "completed", "gif"))
    assert out.read_bytes() == CSV


def test_export_to_stdout(fake: FakeClient) -> None:
    result = CliRunner().invoke(
        main.app, ["prospects", "export", "-c", "camp_1", "-o", "-"], env={"TAILORCAST_TOKEN": "t"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == CSV


def test_a_bad_option_is_refused_before_any_call(fake: FakeClient) -> None:
    result = invoke("-c", "camp_1", "--format", "xlsx")
    assert result.exit_code == 2 and fake.calls == []


def test_an_api_error_exits_1_with_its_message(fake: FakeClient) -> None:
    fake.error = ApiError(404, {"error": {"code": "not_found", "message": "campaign 'camp_9' not found"}})
    result = invoke("-c", "camp_9")
    assert result.exit_code == 1
    assert "campaign 'camp_9' not found" in result.output and "HTTP 404" in result.output
    assert [c[0] for c in fake.calls] == ["export"]
