"""``tailorcast prospects preview|import``: the import's own code offline, and the upload + watch
loop against a fake API client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chalicelib.api.schemas import CsvImportOut, UploadOut
from tailorcast_cli import main
from tailorcast_cli.importview import parse_map_options

CAMPAIGN = "camp_1"
OUTLOOK = (
    "Title,First Name,Last Name,Job Title,Company,E-mail Address\r\n"
    "Dr.,José,Müller,CTO,Müller GmbH, JOSE@Muller.de \r\n"
    "Ms.,Ada,,Analyst,Engines,ada@\r\n"
    ",Bob,Brown,CEO,Acme,bob@acme.io\r\n"
    ",Bobby,Brown,CEO,Acme,BOB@acme.io\r\n"
).encode("cp1252")


def _file(tmp_path: Path, data: bytes = OUTLOOK, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main.app, ["prospects", *args])


def test_preview_offline_as_json(tmp_path: Path) -> None:
    result = _invoke("preview", str(_file(tmp_path)), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["encoding"], data["delimiter"]) == ("cp1252", ",")
    assert data["mapping"] == {
        "Title": "custom",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Job Title": "title",
        "Company": "company",
        "E-mail Address": "email",
    }
    assert (data["total_rows"], data["valid"], data["duplicates"], data["failed"]) == (4, 2, 1, 1)
    assert [(e["row"], e["field"]) for e in data["errors"]] == [(3, "email")]
    assert [p["email"] for p in data["prospects"]] == ["jose@muller.de", "bob@acme.io"]
    assert data["prospects"][0]["custom_fields"] == {"Title": "Dr."}
    assert any("Windows-1252" in w for w in data["warnings"])


def test_preview_with_a_mapping_override_and_a_sample(tmp_path: Path) -> None:
    result = _invoke(
        "preview",
        str(_file(tmp_path)),
        "--json",
        "--map",
        "Title=ignore",
        "--map",
        "Company=custom",
        "--sample",
        "1",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mapping"]["Title"] == "ignore" and data["mapping"]["Company"] == "custom"
    assert len(data["prospects"]) == 1 and data["prospects"][0]["custom_fields"] == {"Company": "Müller GmbH"}


@pytest.mark.parametrize(
    ("options", "says"),
    [(["--map", "no-equals-sign"], 'takes "COLUMN=FIELD"'), (["--map", "=email"], 'takes "COLUMN=FIELD"')],
)
def test_a_malformed_map_option_is_a_usage_error(tmp_path: Path, options: list[str], says: str) -> None:
    result = _invoke("preview", str(_file(tmp_path)), *options)
    assert result.exit_code == 2 and says in result.output


def test_an_unusable_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = _invoke("preview", str(_file(tmp_path, b"Company\r\nAcme\r\n")), "--json")
    assert result.exit_code == 1
    assert "no email column" in json.loads(result.stdout)["error"]["message"]


def test_parse_map_options() -> None:
    assert parse_map_options([]) is None
    assert parse_map_options(["E-mail = email", "a=b=c"]) == {"E-mail": "email", "a=b": "c"}


class FakeClient:
    """An import that is processing, then ends in ``final``."""

    def __init__(self, final: str) -> None:
        self.final = final
        self.uploads: list[tuple[Any, ...]] = []
        self.polls = 0

    def upload(self, campaign_id: str, kind: str, path: Path, content_type: str, mapping: Any) -> UploadOut:
        self.uploads.append((campaign_id, kind, path.name, content_type, mapping))
        return UploadOut.model_validate(
            {
                "upload_id": "upl_1",
                "kind": kind,
                "key": f"uploads/acct_1/{campaign_id}/{kind}/upl_1/{path.name}",
                "url": "https://uploads.invalid/",
                "fields": {},
                "expires_in": 600,
                "max_bytes": 1_000_000,
            }
        )

    def csv_import(self, campaign_id: str, import_id: str) -> CsvImportOut:
        self.polls += 1
        done = self.polls > 1
        return CsvImportOut.model_validate(
            {
                "import_id": import_id,
                "filename": "contacts.csv",
                "size_bytes": 200,
                "requested_mapping": None,
                "created_at": "2026-11-22T12:00:00+00:00",
                "completed_at": "2026-11-22T12:00:01+00:00" if done else None,
                "status": self.final if done else "processing",
                "reason": "the file is empty" if done and self.final == "rejected" else None,
                "total_rows": 4 if done else 2,
                "imported": 2 if done else 1,
                "duplicates": 1 if done else 0,
                "failed": 1 if done else 0,
                "errors": [{"row": 3, "field": "email", "message": "bad"}] if done else [],
                "encoding": "cp1252",
                "delimiter": ",",
                "mapping": {},
                "warnings": [],
            }
        )

    def close(self) -> None:
        return None


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeClient]:
    holder: dict[str, FakeClient] = {}
    monkeypatch.setattr(main, "_render_client", lambda state_dir, token: holder["client"])
    return holder


def test_import_uploads_with_the_mapping_and_follows_it(tmp_path: Path, fake: dict[str, FakeClient]) -> None:
    fake["client"] = FakeClient("completed")
    path = _file(tmp_path)
    result = _invoke(
        "import", str(path), "--campaign", CAMPAIGN, "--token", "t", "--map", "Title=ignore", "--json"
    )
    assert result.exit_code == 0, result.output
    assert fake["client"].uploads == [
        (CAMPAIGN, "prospects_csv", "contacts.csv", "text/csv", {"Title": "ignore"})
    ]
    assert fake["client"].polls == 2
    assert json.loads(result.stdout.strip().splitlines()[-1])["imported"] == 2


def test_a_rejected_import_exits_1(tmp_path: Path, fake: dict[str, FakeClient]) -> None:
    fake["client"] = FakeClient("rejected")
    result = _invoke("import", str(_file(tmp_path)), "--campaign", CAMPAIGN, "--token", "t")
    assert result.exit_code == 1
    assert "rejected" in result.stdout and "the file is empty" in result.stdout


def test_a_file_unusable_here_is_never_uploaded(tmp_path: Path, fake: dict[str, FakeClient]) -> None:
    fake["client"] = FakeClient("completed")
    result = _invoke("import", str(_file(tmp_path, b"")), "--campaign", CAMPAIGN, "--token", "t")
    assert result.exit_code == 1 and "the file is empty" in result.output
    assert fake["client"].uploads == []
