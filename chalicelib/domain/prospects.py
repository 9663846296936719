"""Prospect management: list and search a campaign's prospects, change one, delete one or many,
re-render a selection, and the campaign's figures.

A bulk operation names its prospects by a :class:`Selection`: a list of ids, or a filter (the same
search and status the list takes) resolved here to ids. At most :data:`MAX_SELECTION` prospects
are acted on per request, the bound of a render batch's id list: a bulk delete by filter takes the
first matches and says there are ``more``; a re-render by filter refuses more (narrow it), except
a filter keeping everyone, which renders the whole campaign (a batch of any size).

Deleting a prospect whose video is being rendered is refused (its render would fail half-way and
write media after the prospect is gone); the seller waits for the render or cancels the batch.
Deleting removes the prospect (its email becomes free again in the campaign), its rendered media
and synthesized audio, and takes it out of the campaign's counters.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from chalicelib.domain import contact_fields, render
from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    TailorcastError,
    issues_from_validation,
)
from chalicelib.domain.models import (
    DEFAULT_VARIANT,
    Campaign,
    Page,
    Prospect,
    ProspectVideo,
    RenderBatch,
    VideoStatus,
    utcnow,
)
from chalicelib.domain.ports import (
    CampaignRepository,
    ObjectStore,
    ProspectQuery,
    ProspectRepository,
    ProspectSort,
    VideoRepository,
)
from chalicelib.domain.speech.pronounce import parse_pronunciation

logger = logging.getLogger(__name__)

#: Most prospects one bulk request acts on (a render batch takes at most this many ids too).
MAX_SELECTION = 1000
#: Prospects read per :meth:`ProspectRepository.search` call while resolving a filter.
SEARCH_PAGE = 100
#: Deletions run this many at a time (each is a few DynamoDB and S3 calls; one at a time, a
#: thousand would outlast API Gateway's 29 seconds). Below boto's connection pool of 10.
DELETE_WORKERS = 8
#: The campaign's counters are brought up to date after each chunk of deletions, so a request
#: cut short still leaves them right for what it did.
DELETE_CHUNK = 100
#: Fields ``PATCH /campaigns/{id}/prospects/{pid}`` may change: the editable contact fields (see
#: :mod:`chalicelib.domain.contact_fields`), the custom fields and the script variant.
EDITABLE_FIELDS = frozenset((*contact_fields.EDITABLE_FIELDS, "custom_fields", "variant"))

#: Of those, the ones a blank value removes.
OPTIONAL_TEXT_FIELDS = frozenset(contact_fields.BLANK_CLEARS)


@dataclass(frozen=True)
class ProspectPorts:
    """What prospect management touches."""

    campaigns: CampaignRepository
    prospects: ProspectRepository
    videos: VideoRepository
    media: ObjectStore  # rendered videos and synthesized audio


# --------------------------------------------------------------------------- listing


def prospect_query(
    search: str | None = None,
    status: VideoStatus | None = None,
    sort: ProspectSort = ProspectSort.CREATED,
    descending: bool | None = None,
) -> ProspectQuery:
    """The query for a listing. Blank ``search`` means none; the order defaults to newest first
    for ``created`` and A→Z (ascending) for every other sort."""
    text = " ".join(search.split()) if search else ""
    if descending is None:
        descending = sort is ProspectSort.CREATED
    return ProspectQuery(search=text or None, status=status, sort=sort, descending=descending)


def list_prospects(
    ports: ProspectPorts,
    account_id: str,
    campaign_id: str,
    query: ProspectQuery,
    limit: int,
    cursor: str | None,
) -> Page[Prospect]:
    """One page of the campaign's prospects matching ``query``.

    Raises
    ------
    NotFoundError
        The campaign is not this account's.
    InvalidInputError
        The cursor is malformed or belongs to another query.
    """
    ports.campaigns.get(account_id, campaign_id)
    return ports.prospects.search(account_id, campaign_id, query, limit, cursor)


def matching(
    prospects: ProspectRepository, account_id: str, campaign_id: str, query: ProspectQuery
) -> Iterator[Prospect]:
    """Every prospect matching ``query``, in its order, read page by page."""
    cursor: str | None = None
    while True:
        page = prospects.search(account_id, campaign_id, query, SEARCH_PAGE, cursor)
        yield from page.items
        if page.cursor is None:
            return
        cursor = page.cursor


# --------------------------------------------------------------------------- one prospect


def update_prospect(
    ports: ProspectPorts,
    account_id: str,
    campaign_id: str,
    prospect_id: str,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> Prospect:
    """Change a prospect's fields; ``pronunciation`` set to ``None`` removes the override and
    ``custom_fields`` set to ``None`` empties them (a map given replaces the whole map).

    With ``expected_version`` (the API's ``If-Match``) the write only succeeds against exactly
    that version; without it the change is applied to whatever is current. A changed name or
    pronunciation makes the next render of the campaign re-render this prospect.

    Raises
    ------
    InvalidInputError
        A field that cannot be changed, an invalid value, or a malformed pronunciation.
    PreconditionFailedError
        ``expected_version`` is stale.
    NotFoundError
        No such campaign or prospect for this account.
    ConflictError
        The new email belongs to another prospect of the campaign, or an import is running.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInputError(
            "these fields cannot be changed",
            [FieldIssue(f"body.{name}", "not editable") for name in sorted(unknown)],
        )
    changes = {k: " ".join(v.split()) if isinstance(v, str) else v for k, v in changes.items()}
    for name in OPTIONAL_TEXT_FIELDS & changes.keys():
        changes[name] = changes[name] or None  # blank removes it, as null does
    if "custom_fields" in changes and changes["custom_fields"] is None:
        changes["custom_fields"] = {}
    if "variant" in changes and not changes["variant"]:
        changes["variant"] = DEFAULT_VARIANT
    if changes.get("pronunciation") is not None:
        parse_pronunciation(changes["pronunciation"], "body.pronunciation")
    ports.campaigns.get(account_id, campaign_id)

    def change(current: Prospect) -> Prospect | None:
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailedError(
                f"the prospect is at version {current.version}, not {expected_version}; "
                "reload it and try again"
            )
        if not changes:
            return None
        # model_validate (not model_copy): the merged prospect is checked like an imported one
        try:
            return Prospect.model_validate({**current.model_dump(), **changes, "updated_at": utcnow()})
        except ValidationError as exc:
            raise InvalidInputError("the change is invalid", issues_from_validation(exc, "body")) from exc

    return ports.prospects.update(account_id, campaign_id, prospect_id, change)


def prospect_media_prefixes(account_id: str, campaign_id: str, prospect_id: str) -> tuple[str, ...]:
    """Media bucket prefixes holding a prospect's own objects: every render of its video (see
    :func:`chalicelib.domain.media.render_prefix`) and its synthesized name audio."""
    return (
        f"{account_id}/{campaign_id}/videos/{prospect_id}/",
        f"{account_id}/{campaign_id}/voice/{prospect_id}/",
    )


def deletion_blocker(prospect: Prospect, video: ProspectVideo | None) -> str | None:
    """Why the prospect cannot be deleted now, or ``None``.

    A render under way (queued, synthesizing, rendering) would fail on the missing prospect and
    write media for it after it is gone, so it must finish or be cancelled first. The check and
    the deletion are not one transaction: a batch that queues the prospect in between finds it
    gone and fails that one render (a batch isolates each prospect's failure).
    """
    # The video item is the render's own record; the prospect's copy of the status is checked too.
    seen = [video.status] if video is not None else []
    active = [s for s in (*seen, prospect.video_status) if s in render.ACTIVE_VIDEO]
    if not active:
        return None
    batch = f" by batch {video.batch_id}" if video is not None and video.batch_id else ""
    return (
        f"prospect {prospect.prospect_id} is being rendered ({active[0].value}){batch}; delete it "
        "once the render has finished, or cancel the batch first"
    )


class SkipReason(StrEnum):
    NOT_FOUND = "not_found"
    RENDERING = "rendering"
    ERROR = "error"


@dataclass(frozen=True)
class Skipped:
    prospect_id: str
    reason: SkipReason
    message: str


@dataclass(frozen=True)
class _Deleted:
    prospect_id: str
    video_status: VideoStatus | None  # of its video item, if it had one


def _video(ports: ProspectPorts, prospect: Prospect) -> ProspectVideo | None:
    try:
        return ports.videos.get(prospect.account_id, prospect.campaign_id, prospect.prospect_id)
    except NotFoundError:
        return None


def _delete_one(
    ports: ProspectPorts, account_id: str, campaign_id: str, prospect_id: str
) -> _Deleted | Skipped:
    """Delete one prospect, or say why not. Raises only what a caller of one prospect must see
    as an error (storage failures); a missing or rendering prospect is a :class:`Skipped`."""
    try:
        prospect = ports.prospects.get(account_id, campaign_id, prospect_id)
    except NotFoundError:
        return Skipped(prospect_id, SkipReason.NOT_FOUND, f"no prospect {prospect_id!r} in this campaign")
    video = _video(ports, prospect)
    blocker = deletion_blocker(prospect, video)
    if blocker is not None:
        return Skipped(prospect_id, SkipReason.RENDERING, blocker)
    try:
        ports.prospects.delete(account_id, campaign_id, prospect_id)
    except NotFoundError:  # deleted by someone else meanwhile
        return Skipped(prospect_id, SkipReason.NOT_FOUND, f"no prospect {prospect_id!r} in this campaign")
    if video is not None:
        # Else the next batch's recount would count the deleted prospect's video again.
        ports.videos.delete(account_id, campaign_id, prospect_id)
    for prefix in prospect_media_prefixes(account_id, campaign_id, prospect_id):
        try:
            ports.media.delete_prefix(prefix)
        except TailorcastError:
            # The prospect is gone and with it its watch link: what is left is unreachable, and
            # deleting the prospect again cannot help. Logged (ids only) for a sweep.
            logger.exception(
                "could not delete a deleted prospect's media",
                extra={"campaign_id": campaign_id, "prospect_id": prospect_id},
            )
    return _Deleted(prospect_id, video.status if video is not None else None)


def _uncount(ports: ProspectPorts, account_id: str, campaign_id: str, deleted: list[_Deleted]) -> None:
    """Take deleted prospects (and their finished videos) out of the campaign's counters."""
    if not deleted:
        return
    rendered = sum(d.video_status is VideoStatus.COMPLETED for d in deleted)
    failed = sum(d.video_status is VideoStatus.FAILED for d in deleted)

    def change(c: Campaign) -> Campaign:
        counters = c.counters.model_copy(
            update={
                "prospects": max(0, c.counters.prospects - len(deleted)),
                "videos_rendered": max(0, c.counters.videos_rendered - rendered),
                "videos_failed": max(0, c.counters.videos_failed - failed),
            }
        )
        return c.model_copy(update={"counters": counters, "updated_at": utcnow()})

    with contextlib.suppress(NotFoundError):  # the campaign was deleted meanwhile, counters and all
        ports.campaigns.update(account_id, campaign_id, change)


def delete_prospect(ports: ProspectPorts, account_id: str, campaign_id: str, prospect_id: str) -> None:
    """Delete a prospect, its media, and its place in the campaign's counters.

    Raises
    ------
    NotFoundError
        No such campaign or prospect for this account.
    ConflictError
        Its video is being rendered (the message says what to do).
    StorageError
        The store failed; nothing was deleted, or only the prospect's media.
    """
    ports.campaigns.get(account_id, campaign_id)
    outcome = _delete_one(ports, account_id, campaign_id, prospect_id)
    if isinstance(outcome, Skipped):
        if outcome.reason is SkipReason.NOT_FOUND:
            raise NotFoundError("prospect", prospect_id)
        raise ConflictError(outcome.message)
    _uncount(ports, account_id, campaign_id, [outcome])


# --------------------------------------------------------------------------- selections


@dataclass(frozen=True)
class Selection:
    """The prospects a bulk request names: ``prospect_ids``, or those matching ``query``."""

    prospect_ids: tuple[str, ...] | None = None
    query: ProspectQuery | None = None

    @classmethod
    def of(
        cls,
        prospect_ids: list[str] | None,
        has_filter: bool,
        search: str | None = None,
        status: VideoStatus | None = None,
    ) -> Selection:
        """Exactly one of ``prospect_ids`` and a filter; repeated ids count once.

        Raises
        ------
        InvalidInputError
            Both or neither are given, or the id list is empty or longer than
            :data:`MAX_SELECTION`.
        """
        if (prospect_ids is not None) == has_filter:
            which = "both" if has_filter else "neither"
            raise InvalidInputError(
                "choose the prospects by id or by filter",
                [FieldIssue("body", f"give exactly one of prospect_ids and filter ({which} given)")],
            )
        if prospect_ids is not None:
            if not prospect_ids or len(prospect_ids) > MAX_SELECTION:
                raise InvalidInputError(
                    "choose the prospects by id or by filter",
                    [FieldIssue("body.prospect_ids", f"give between 1 and {MAX_SELECTION} ids")],
                )
            return cls(prospect_ids=tuple(dict.fromkeys(prospect_ids)))
        # Oldest first: a request repeated after `more` carries on where the last one stopped.
        query = prospect_query(search, status, ProspectSort.CREATED, descending=False)
        return cls(query=query)

    @property
    def everything(self) -> bool:
        """A filter that keeps every prospect of the campaign."""
        return self.query is not None and self.query.search is None and self.query.status is None


@dataclass(frozen=True)
class Resolved:
    prospect_ids: list[str]
    more: bool  # the filter matched more than :data:`MAX_SELECTION`; these are the first


def resolve(
    prospects: ProspectRepository, account_id: str, campaign_id: str, selection: Selection
) -> Resolved:
    """The ids a selection names: the given ones, or the first :data:`MAX_SELECTION` matches of
    the filter (oldest first)."""
    if selection.query is None:
        return Resolved(list(selection.prospect_ids or ()), more=False)
    ids: list[str] = []
    for prospect in matching(prospects, account_id, campaign_id, selection.query):
        if len(ids) == MAX_SELECTION:
            return Resolved(ids, more=True)
        ids.append(prospect.prospect_id)
    return Resolved(ids, more=False)


@dataclass(frozen=True)
class BulkDeleteOutcome:
    deleted: list[str]
    skipped: list[Skipped]
    more: bool  # a filter matched more prospects than one request deletes: send it again


def delete_selection(
    ports: ProspectPorts,
    account_id: str,
    campaign_id: str,
    selection: Selection,
    workers: int = DELETE_WORKERS,
) -> BulkDeleteOutcome:
    """Delete the selected prospects (at most :data:`MAX_SELECTION`), each on its own: one that
    is missing, rendering, or fails to delete is reported and the others are still deleted.

    A filter deletes its first :data:`MAX_SELECTION` matches, oldest first, and ``more`` says
    whether others matched; sending the same request again carries on (prospects skipped as
    rendering are matched again, so stop when a request deletes nothing).

    Raises
    ------
    NotFoundError
        The campaign is not this account's.
    InvalidInputError
        The filter's search cannot be served (see :meth:`ProspectRepository.search`).
    """
    ports.campaigns.get(account_id, campaign_id)
    resolved = resolve(ports.prospects, account_id, campaign_id, selection)
    deleted: list[str] = []
    skipped: list[Skipped] = []
    ids = resolved.prospect_ids
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="delete-prospect") as pool:
        for start in range(0, len(ids), DELETE_CHUNK):
            chunk = ids[start : start + DELETE_CHUNK]
            outcomes = list(pool.map(_guarded(ports, account_id, campaign_id), chunk))  # input order
            done = [o for o in outcomes if isinstance(o, _Deleted)]
            _uncount(ports, account_id, campaign_id, done)
            deleted += [d.prospect_id for d in done]
            skipped += [o for o in outcomes if isinstance(o, Skipped)]
    return BulkDeleteOutcome(deleted=deleted, skipped=skipped, more=resolved.more)


def _guarded(ports: ProspectPorts, account_id: str, campaign_id: str) -> Callable[[str], _Deleted | Skipped]:
    def delete(prospect_id: str) -> _Deleted | Skipped:
        try:
            return _delete_one(ports, account_id, campaign_id, prospect_id)
        except TailorcastError as exc:
            logger.warning(
                "could not delete a prospect",
                extra={"campaign_id": campaign_id, "prospect_id": prospect_id, "error": exc.code},
            )
            return Skipped(prospect_id, SkipReason.ERROR, f"not deleted: {exc.message}; try again")
        except Exception:
            # Anything else (an adapter's unexpected error) stays with this prospect: the others
            # in flight are deleted and must still be reported and counted.
            logger.exception(
                "could not delete a prospect", extra={"campaign_id": campaign_id, "prospect_id": prospect_id}
            )
            return Skipped(
                prospect_id, SkipReason.ERROR, "not deleted because of a problem on our side; try again"
            )

    return delete


def render_selection(
    ports: render.RenderPorts,
    account_id: str,
    campaign_id: str,
    selection: Selection,
    force: bool = False,
    tolerated_failure_percent: float | None = None,
) -> RenderBatch:
    """Start a render batch (:func:`render.start_batch`) for the selected prospects.

    A filter that keeps everyone renders the whole campaign (a batch of any size); any other
    filter must match between 1 and :data:`MAX_SELECTION` prospects (narrow it, or render the
    whole campaign). As with any batch, prospects already rendered from the same inputs are
    skipped unless ``force``.

    Raises
    ------
    NotFoundError
        The campaign is not this account's.
    InvalidInputError
        A given id is not in the campaign, or the filter matches no prospect or too many.
    ConflictError
        The campaign cannot render yet, or another batch is running.
    """
    ports.campaigns.get(account_id, campaign_id)
    if selection.everything:
        ids: list[str] | None = None
    else:
        resolved = resolve(ports.prospects, account_id, campaign_id, selection)
        if resolved.more:
            raise InvalidInputError(
                "the filter matches too many prospects",
                [
                    FieldIssue(
                        "body.filter",
                        f"matches more than {MAX_SELECTION} prospects; narrow it, or render the whole "
                        'campaign with {"filter": {}}',
                    )
                ],
            )
        if not resolved.prospect_ids:
            raise InvalidInputError(
                "nothing to render", [FieldIssue("body.filter", "matches no prospect of this campaign")]
            )
        ids = resolved.prospect_ids
    return render.start_batch(
        ports, account_id, campaign_id, ids, force=force, tolerated_failure_percent=tolerated_failure_percent
    )


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class ProspectStats:
    total: int
    by_status: dict[VideoStatus, int]

    @property
    def in_progress(self) -> int:
        return sum(self.by_status[s] for s in render.ACTIVE_VIDEO)

    @property
    def completed_percent(self) -> float:
        done = self.by_status[VideoStatus.COMPLETED]
        return round(100.0 * done / self.total, 1) if self.total else 0.0


def prospect_stats(ports: ProspectPorts, account_id: str, campaign_id: str) -> ProspectStats:
    """How many prospects the campaign has, and how many are in each video status.

    Raises
    ------
    NotFoundError
        The campaign is not this account's.
    """
    ports.campaigns.get(account_id, campaign_id)
    counts = ports.prospects.count_by_status(account_id, campaign_id)
    by_status = {status: int(counts.get(status, 0)) for status in VideoStatus}
    return ProspectStats(total=sum(by_status.values()), by_status=by_status)
