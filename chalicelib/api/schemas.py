"""Request and response bodies of the REST API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo

from chalicelib.domain import contact_fields
from chalicelib.domain.auth import Principal
from chalicelib.domain.errors import FieldIssue, InvalidInputError, issues_from_validation
from chalicelib.domain.json_input import MalformedJsonError, load_json
from chalicelib.domain.models import (
    Account,
    AccountStatus,
    BaseVideo,
    Campaign,
    CampaignCounters,
    CampaignStatus,
    CampaignVoice,
    CsvImport,
    CsvImportStatus,
    NameCard,
    Plan,
    Prospect,
    RowError,
    UnreadableItem,
    UploadKind,
    WatchPageSettings,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def _iso_day(value: object) -> object:
    """A day as the documented ``YYYY-MM-DD`` only: pydantic would read ``0`` as 1970-01-01."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return value


#: A calendar day in a query string: ``YYYY-MM-DD``, between 2000 and 2100.
IsoDay = Annotated[
    date,
    BeforeValidator(_iso_day),
    AfterValidator(_in_range),
    WithJsonSchema(
        {"type": "string", "format": "date", "description": f"YYYY-MM-DD, {FIRST_DAY} to {LAST_DAY}"}
    ),
]


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
    watch_page: WatchPageSettings | None = Field(
        default=None,
        description="what the watch pages show: headline (may use {first_name}, {last_name}, {company}), "
        "seller_name, seller_avatar_url, cta_label, cta_url, link_ttl_days (replaces the whole object)",
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
    base_video: BaseVideo | None = Field(description="the working base video: what renders are made from")
    pending_base_video: BaseVideo | None = Field(
        default=None,
        description="a base video uploaded to replace a ready one: it becomes base_video once it is "
        "validated and encoded; until then it shows its progress, or why it was rejected or failed "
        "(the working base keeps rendering)",
    )
    voice: CampaignVoice
    name_card: NameCard | None
    watch_page: WatchPageSettings
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
    unreadable: list[UnreadableItem] = Field(
        default_factory=list,
        description="campaigns saved by an older version in a form that no longer reads, with the "
        "reason: each can still be deleted",
    )


#: What a CSV column can be mapped to (prospect fields, "custom" or "ignore"): a ``Literal`` built
#: from the prospect model's contact fields, so the OpenAPI document lists them as an enum.
if TYPE_CHECKING:
    MappingTarget = str
else:
    MappingTarget = Literal.__getitem__(contact_fields.MAPPING_TARGETS)
ColumnMapping = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=256)], MappingTarget],
    Field(
        max_length=1000,
        description="source column → field; columns not named are mapped automatically "
        "(`full_name` is split into first and last name; `custom` keeps the column as a "
        "`{variable}`; `ignore` drops it)",
    ),
]


class UploadRequest(Strict):
    kind: UploadKind
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=100)
    size_bytes: int = Field(gt=0, description="the file's exact size; checked again on arrival")
    mapping: ColumnMapping | None = Field(
        default=None, description="prospects CSV only: override the automatic column mapping"
    )

    @model_validator(mode="after")
    def _mapping_only_for_csv(self) -> UploadRequest:
        if self.mapping is not None and self.kind is not UploadKind.PROSPECTS_CSV:
            raise ValueError("mapping is only for a prospects_csv upload")
        return self


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
    errors: list[RowError] = Field(description="each rejected row: row number (header = 1), field, reason")
    reason: str | None = Field(description="why the whole file was rejected or the import stopped")
    encoding: str | None = Field(description="how the file was read: utf-8, utf-8-sig, utf-16, cp1252…")
    delimiter: str | None
    mapping: dict[str, str] = Field(description="source column → field, custom or ignore, in file order")
    requested_mapping: dict[str, str] | None = Field(description="the override given with the upload")
    warnings: list[str]
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, i: CsvImport) -> CsvImportOut:
        return cls.model_validate(i.model_dump(exclude={"account_id", "campaign_id", "key", "version"}))


#: The longest ``mapping`` query parameter: with the rest of the URL it stays inside what API
#: Gateway and the local gateway accept (a longer URL would be a 414 before we could explain).
MAX_MAPPING_PARAM = 4000


class ImportPreviewQuery(Strict):
    sample: int = Field(default=20, ge=0, le=500, description="how many normalized prospects to return")
    mapping: str | None = Field(
        default=None,
        max_length=MAX_MAPPING_PARAM,
        description='a JSON object overriding the column mapping, e.g. {"E-mail": "email"} '
        "(a URL holds only so much: for a long mapping, upload the file with it instead)",
    )

    def column_mapping(self) -> dict[str, MappingTarget] | None:
        """The ``mapping`` parameter, parsed and checked like an upload's."""
        if self.mapping is None:
            return None
        try:
            data = load_json(self.mapping, "query.mapping", label="mapping", max_depth=2)
        except MalformedJsonError as exc:
            raise InvalidInputError(
                "the query string is invalid", [FieldIssue("query.mapping", f"must be a JSON object ({exc})")]
            ) from exc
        except InvalidInputError as exc:
            raise InvalidInputError("the query string is invalid", exc.issues) from exc
        try:
            return _MAPPING.validate_python(data)
        except ValidationError as exc:
            raise InvalidInputError(
                "the query string is invalid", issues_from_validation(exc, "query.mapping")
            ) from exc


_MAPPING: TypeAdapter[dict[str, MappingTarget]] = TypeAdapter(ColumnMapping)


def contact_model(name: str, *, for_update: bool, base: type[BaseModel] = BaseModel) -> type[BaseModel]:
    """A model of the prospect's contact fields, read from the domain's ``Prospect`` (the one
    definition: a field added there shows up here by itself).

    ``for_update=False``: every contact field as the API shows it (types and descriptions).
    ``for_update=True``: the fields a seller may change, each optional with the model's own limits;
    its description says whether null (and a blank) removes it, as the field's marker decides.
    """
    from chalicelib.domain import models  # read now, not at import: the model is the source

    marked = contact_fields.markers(models.Prospect)
    fields: dict[str, Any] = {}
    for field, marker in marked.items():
        info = models.Prospect.model_fields[field]
        notes = [info.description] if info.description else []
        if not for_update:
            fields[field] = (info.annotation, Field(description="; ".join(notes) or None))
            continue
        if not marker.editable:
            continue
        limits: dict[str, Any] = {}
        if not info.is_required():
            notes.append("null or blank removes it" if marker.blank_clears else "null removes it")
            if not marker.blank_clears:
                limits["min_length"] = 1  # a blank is refused, not read as "remove"
        # The model's own limits (lengths, the email check) stay; only the default changes.
        optional = FieldInfo.merge_field_infos(
            info, Field(default=None, description="; ".join(notes) or None, **limits)
        )
        fields[field] = (Optional[info.annotation], optional)  # noqa: UP045 (a runtime type, not a hint)
    return create_model(name, __base__=base, **fields)


def _preview_prospect() -> type[BaseModel]:
    """A prospect as an import preview shows it: its contact fields (read from the model, so a new
    one shows up here by itself) and its custom fields."""
    fields: dict[str, Any] = {
        name: (str if Prospect.model_fields[name].is_required() else str | None, ...)
        for name in contact_fields.CONTACT_FIELDS
    }
    fields["custom_fields"] = (dict[str, str], ...)
    return create_model("PreviewProspect", **fields)


if TYPE_CHECKING:
    PreviewProspect = BaseModel
else:
    PreviewProspect = _preview_prospect()


class ImportPreviewOut(BaseModel):
    """What importing the file would do; nothing was written."""

    encoding: str
    delimiter: str
    mapping: dict[str, str] = Field(description="source column → field, custom or ignore, in file order")
    total_rows: int
    valid: int = Field(description="rows that would be imported (valid, new, within the plan's limit)")
    duplicates: int = Field(description="rows whose email is already in the file or the campaign")
    failed: int
    errors: list[RowError]
    warnings: list[str]
    prospects: list[PreviewProspect] = Field(description="the first `sample` valid rows, normalized")


class CsvImportList(BaseModel):
    items: list[CsvImportOut]


class AccountOut(BaseModel):
    account_id: str
    name: str
    plan: Plan
    status: AccountStatus
    trial_ends_at: datetime | None
    trial_video_limit: int = Field(description="the plan's videos for the period (named for the trial's)")
    videos_rendered: int = Field(description="videos rendered this period, from the usage ledger")


class MeOut(BaseModel):
    account: AccountOut
    user_id: str
    email: str
    role: str

    @classmethod
    def of(cls, account: Account, principal: Principal, videos_rendered: int, video_limit: int) -> MeOut:
        return cls(
            account=AccountOut(
                account_id=account.account_id,
                name=account.name,
                plan=account.plan,
                status=account.status,
                trial_ends_at=account.trial_ends_at,
                trial_video_limit=video_limit,
                videos_rendered=videos_rendered,
            ),
            user_id=principal.user_id,
            email=principal.email,
            role=principal.role.value,
        )


class Health(BaseModel):
    status: str
    stage: str
