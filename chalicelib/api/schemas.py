"""Request and response bodies of the REST API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.auth import Principal
from chalicelib.domain.models import (
    Account,
    BaseVideo,
    Campaign,
    CampaignCounters,
    CampaignStatus,
    CampaignVoice,
    CsvImport,
    CsvImportStatus,
    NameCard,
    Plan,
    RowError,
    UploadKind,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    script: str = Field(
        default="", max_length=5000, description="What the seller says; {first_name} marks a slot"
    )


class CampaignUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    script: str | None = Field(default=None, max_length=5000)
    name_card: NameCard | None = Field(
        default=None,
        description='on-screen text over the name\'s window, e.g. {"text": "{first_name}", '
        '"subtitle": "{company}"}; null removes it',
    )


class PageQuery(Strict):
    limit: int = Field(default=25, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    description: str
    script: str
    status: CampaignStatus
    base_video: BaseVideo | None
    voice: CampaignVoice
    name_card: NameCard | None
    active_batch_id: str | None
    counters: CampaignCounters
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, c: Campaign) -> CampaignOut:
        return cls.model_validate(c.model_dump(exclude={"account_id"}))


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class UploadRequest(Strict):
    kind: UploadKind
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=100)
    size_bytes: int = Field(gt=0, description="the file's exact size; checked again on arrival")


class UploadOut(BaseModel):
    upload_id: str
    kind: UploadKind
    key: str
    url: str
    fields: dict[str, str] = Field(description="send as multipart/form-data fields before `file`")
    expires_in: int
    max_bytes: int


class CsvImportOut(BaseModel):
    import_id: str
    filename: str
    status: CsvImportStatus
    size_bytes: int | None
    total_rows: int
    imported: int
    duplicates: int
    failed: int
    errors: list[RowError]
    reason: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, i: CsvImport) -> CsvImportOut:
        return cls.model_validate(i.model_dump(exclude={"account_id", "campaign_id", "key", "version"}))


class CsvImportList(BaseModel):
    items: list[CsvImportOut]


class AccountOut(BaseModel):
    account_id: str
    name: str
    plan: Plan
    trial_ends_at: datetime | None
    trial_video_limit: int
    videos_rendered: int


class MeOut(BaseModel):
    account: AccountOut
    user_id: str
    email: str
    role: str

    @classmethod
    def of(cls, account: Account, principal: Principal) -> MeOut:
        return cls(
            account=AccountOut.model_validate(account.model_dump()),
            user_id=principal.user_id,
            email=principal.email,
            role=principal.role.value,
        )


class Health(BaseModel):
    status: str
    stage: str
