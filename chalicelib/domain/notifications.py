"""Transactional email (issue 18, item 6): what each notification says, who gets it, and sending it.

Composition is pure: given a kind and its facts, :func:`compose` gives the subject and the text
and HTML bodies (HTML autoescaped: a campaign named ``<script>`` arrives as text). :func:`notify`
picks the recipients by the kind's audience and each user's preferences, composes, and sends
through the ``Mailer`` port (SES). A notification carries a dedupe key, claimed once (a retried
task or a webhook delivered twice never sends it twice).

Entry points: :func:`notify_batch_rendered` (the render batch's last step),
:func:`notify_payment_failed` and :func:`notify_trial_ending` (Stripe's ``invoice.payment_failed``
and ``customer.subscription.trial_will_end`` webhooks), and :func:`send_weekly_digest` (the
scheduled ``weekly_digest`` Lambda).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined

from chalicelib.domain.account_records import NotificationPreferences
from chalicelib.domain.errors import TailorcastError
from chalicelib.domain.models import RenderBatch, Role, User
from chalicelib.domain.ports import Email, Mailer, ProfileRepository, RateLimiter

logger = logging.getLogger(__name__)

#: How long a sent notification's dedupe claim is kept (Stripe retries a webhook for 3 days).
DEDUPE_TTL_SECONDS = 8 * 24 * 3600
#: The weekly digest covers the seven days before the day it runs.
DIGEST_DAYS = 7


class NotificationKind(StrEnum):
    """Each kind is a notification preference of the same name (on by default)."""

    BATCH_RENDERED = "batch_rendered"
    TRIAL_ENDING = "trial_ending"
    PAYMENT_FAILED = "payment_failed"
    WEEKLY_DIGEST = "weekly_digest"


#: Roles that receive billing mail; "admin" arrives with team seats (the role names are stable).
_BILLING_ROLES = frozenset({Role.OWNER.value, "admin"})
#: Who receives each kind (before preferences): billing and the digest go to the account's
#: owners, a finished render to every user of the account (any of them may have started it).
AUDIENCE: dict[NotificationKind, Callable[[User], bool]] = {
    NotificationKind.BATCH_RENDERED: lambda user: True,
    NotificationKind.TRIAL_ENDING: lambda user: user.role.value in _BILLING_ROLES,
    NotificationKind.PAYMENT_FAILED: lambda user: user.role.value in _BILLING_ROLES,
    NotificationKind.WEEKLY_DIGEST: lambda user: user.role is Role.OWNER,
}


def wants(prefs: NotificationPreferences, kind: NotificationKind) -> bool:
    """Whether a user with ``prefs`` gets ``kind``."""
    return bool(getattr(prefs, kind.value))


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class BatchRendered:
    campaign_name: str
    completed: int
    failed: int
    total: int
    succeeded: bool  # the batch completed (else it failed or stopped)
    error: str | None = None
    link: str | None = None  # the campaign in the console


@dataclass(frozen=True)
class TrialEnding:
    trial_ends_at: datetime
    link: str | None = None  # where to choose a plan


@dataclass(frozen=True)
class PaymentFailed:
    amount: str | None = None  # "$79.00", as the invoice says
    next_attempt_at: datetime | None = None  # when Stripe retries the card (None: no more retries)
    link: str | None = None  # the billing portal


@dataclass(frozen=True)
class CampaignLine:
    name: str
    views: int
    plays: int
    cta_clicks: int


@dataclass(frozen=True)
class WeeklyDigest:
    since: date
    until: date
    views: int  # prospects who opened their video
    plays: int
    cta_clicks: int
    campaigns: tuple[CampaignLine, ...] = field(default_factory=tuple)
    link: str | None = None  # the analytics page


Facts = BatchRendered | TrialEnding | PaymentFailed | WeeklyDigest

_KIND_OF: dict[type[Any], NotificationKind] = {
    BatchRendered: NotificationKind.BATCH_RENDERED,
    TrialEnding: NotificationKind.TRIAL_ENDING,
    PaymentFailed: NotificationKind.PAYMENT_FAILED,
    WeeklyDigest: NotificationKind.WEEKLY_DIGEST,
}


# --------------------------------------------------------------------------- composition

_SUBJECTS: dict[NotificationKind, str] = {
    NotificationKind.BATCH_RENDERED: "{% if f.succeeded %}Your videos for {{ f.campaign_name }} are ready"
    "{% else %}Rendering {{ f.campaign_name }} stopped{% endif %}",
    NotificationKind.TRIAL_ENDING: "Your Tailorcast trial ends on {{ f.trial_ends_at.strftime('%B %-d') }}",
    NotificationKind.PAYMENT_FAILED: "Your Tailorcast payment failed",
    NotificationKind.WEEKLY_DIGEST: "Your week on Tailorcast: {{ f.views }} views, {{ f.plays }} plays, "
    "{{ f.cta_clicks }} CTA clicks",
}

_BODIES: dict[NotificationKind, str] = {
    NotificationKind.BATCH_RENDERED: """\
{% if f.succeeded %}The render of {{ f.campaign_name }} has finished: {{ f.completed }} of {{ f.total }} \
videos are ready{% if f.failed %}, {{ f.failed }} failed{% endif %}.
{% else %}The render of {{ f.campaign_name }} stopped: {{ f.error or "it did not finish" }}.
{{ f.completed }} of {{ f.total }} videos are ready{% if f.failed %}, {{ f.failed }} failed{% endif %}.
{% endif %}
{% if f.link %}{{ link("Open the campaign", f.link) }}{% endif %}""",
    NotificationKind.TRIAL_ENDING: """\
Your free trial ends on {{ f.trial_ends_at.strftime('%A, %B %-d, %Y') }}.
After that your watch links keep playing, but no new videos can be made until you choose a plan.
{% if f.link %}{{ link("Choose a plan", f.link) }}{% endif %}""",
    NotificationKind.PAYMENT_FAILED: """\
We could not charge your card{% if f.amount %} for {{ f.amount }}{% endif %}.
{% if f.next_attempt_at %}We will try again on {{ f.next_attempt_at.strftime('%B %-d') }}. \
{% endif %}Update your card to keep rendering new videos; your watch links keep playing meanwhile.
{% if f.link %}{{ link("Update your card", f.link) }}{% endif %}""",
    NotificationKind.WEEKLY_DIGEST: """\
From {{ f.since.isoformat() }} to {{ f.until.isoformat() }}: {{ f.views }} views, {{ f.plays }} plays \
and {{ f.cta_clicks }} CTA clicks.
{% for c in f.campaigns %}
{{ bullet(c.name ~ ": " ~ c.views ~ " views, " ~ c.plays ~ " plays, " ~ c.cta_clicks ~ " CTA clicks") }}
{% endfor %}
{% if f.link %}{{ link("See your analytics", f.link) }}{% endif %}""",
}

_HTML_LAYOUT = """\
<!doctype html>
<html><body style="font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#14171f">
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}<p style="color:#555d6e;font-size:13px">You get this email because it is turned on in your \
Tailorcast notification settings.</p>
</body></html>
"""


def _text_link(label: str, url: str) -> str:
    return f"{label}: {url}"


@functools.cache
def _env(html: bool) -> Environment:
    # Subjects and text bodies are plain text: no escaping. The HTML body is built from the same
    # text, escaped by the layout's autoescape, so a value can never become markup.
    env = Environment(
        loader=DictLoader({"layout.html": _HTML_LAYOUT}),
        autoescape=html,  # noqa: S701 - plain text (subjects, text bodies) is never HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.globals["link"] = _text_link
    env.globals["bullet"] = lambda line: f"- {line}"
    return env


def kind_of(facts: Facts) -> NotificationKind:
    return _KIND_OF[type(facts)]


def compose(facts: Facts, to: str, greeting_name: str | None = None) -> Email:
    """The email for ``facts`` to ``to``: subject, text, and the same text as escaped HTML."""
    kind = kind_of(facts)
    plain = _env(False)
    subject = " ".join(plain.from_string(_SUBJECTS[kind]).render(f=facts).split())
    body = plain.from_string(_BODIES[kind]).render(f=facts).strip()
    greeting = f"Hi {greeting_name}," if greeting_name else "Hi,"
    paragraphs = [greeting, *[p.strip() for p in body.split("\n") if p.strip()], "— Tailorcast"]
    text = "\n\n".join(paragraphs) + "\n"
    html = _env(True).get_template("layout.html").render(paragraphs=paragraphs)
    return Email(to=to, subject=subject, text=text, html=html)


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class NotificationPorts:
    profiles: ProfileRepository
    mailer: Mailer
    claims: RateLimiter
    console_url: str | None = None  # the console's base URL, for links (None: no links)


def _claim_key(account_id: str, kind: NotificationKind, dedupe: str) -> str:
    # Hashed: the claim item sits outside the account's partition and expires on its own.
    return "notify#" + hashlib.sha256(f"{account_id}|{kind.value}|{dedupe}".encode()).hexdigest()


def notify(ports: NotificationPorts, account_id: str, facts: Facts, dedupe: str | None = None) -> int:
    """Email ``facts`` to each user of the account in the kind's audience who has it turned on.

    Returns how many emails were sent (0 when this notification was sent before).

    Raises
    ------
    StorageError
        The mailer failed; the dedupe claim is released so a retry sends it.
    """
    kind = kind_of(facts)
    recipients = []
    for user in ports.profiles.users(account_id):
        if not AUDIENCE[kind](user):
            continue
        profile = ports.profiles.get(account_id, user.user_id)
        if wants(profile.notifications, kind):
            recipients.append((user, profile.full_name))
    if not recipients:
        return 0
    key = _claim_key(account_id, kind, dedupe) if dedupe else None
    if key is not None and not ports.claims.claim([key], DEDUPE_TTL_SECONDS)[0]:
        logger.info("notification already sent", extra={"kind": kind.value})
        return 0
    sent = 0
    try:
        for user, name in recipients:
            ports.mailer.send(compose(facts, str(user.email), name))
            sent += 1
    except TailorcastError:
        if key is not None and sent == 0:
            ports.claims.release([key])
        raise
    return sent


def _link(ports: NotificationPorts, path: str) -> str | None:
    return f"{ports.console_url.rstrip('/')}{path}" if ports.console_url else None


def notify_batch_rendered(ports: NotificationPorts, batch: RenderBatch, campaign_name: str) -> int:
    """The "batch rendered" email, once per batch verdict (a retried last step sends nothing)."""
    from chalicelib.domain.models import RenderBatchStatus

    c = batch.counters
    facts = BatchRendered(
        campaign_name=campaign_name,
        completed=c.completed,
        failed=c.failed,
        total=batch.total,
        succeeded=batch.status is RenderBatchStatus.COMPLETED,
        error=batch.error,
        link=_link(ports, f"/campaigns/{batch.campaign_id}"),
    )
    return notify(ports, batch.account_id, facts, dedupe=f"{batch.batch_id}.{batch.status.value}")


def notify_trial_ending(ports: NotificationPorts, account_id: str, trial_ends_at: datetime) -> int:
    """The "trial ending" email (Stripe's ``customer.subscription.trial_will_end``, or our own
    trial's reminder); once per trial end."""
    facts = TrialEnding(trial_ends_at=trial_ends_at, link=_link(ports, "/billing"))
    return notify(ports, account_id, facts, dedupe=trial_ends_at.isoformat())


def notify_payment_failed(
    ports: NotificationPorts,
    account_id: str,
    invoice_id: str,
    *,
    amount: str | None = None,
    next_attempt_at: datetime | None = None,
) -> int:
    """The "payment failed" email (Stripe's ``invoice.payment_failed``); once per invoice attempt."""
    facts = PaymentFailed(amount=amount, next_attempt_at=next_attempt_at, link=_link(ports, "/billing"))
    attempt = next_attempt_at.isoformat() if next_attempt_at else "final"
    return notify(ports, account_id, facts, dedupe=f"{invoice_id}.{attempt}")


def digest_window(today: date) -> tuple[date, date]:
    """The seven days before ``today`` (both ends included)."""
    until = today - timedelta(days=1)
    return until - timedelta(days=DIGEST_DAYS - 1), until


def send_weekly_digest(
    ports: NotificationPorts,
    account_id: str,
    engagement: Callable[[date, date], Any],
    campaign_names: Callable[[], dict[str, str]],
    today: date,
) -> int:
    """The weekly engagement digest: the week's views, plays and CTA clicks from the analytics
    read path (``engagement(since, until)`` gives an ``AccountEngagement``); once per week.

    Raises
    ------
    StorageError
        The analytics query or the mailer failed.
    """
    since, until = digest_window(today)
    report = engagement(since, until)
    names = campaign_names()
    lines = tuple(
        CampaignLine(
            name=names.get(c.campaign_id, c.campaign_id),
            views=c.opened,
            plays=c.plays,
            cta_clicks=c.cta_clicks,
        )
        for c in sorted(report.by_campaign, key=lambda c: (-c.plays, c.campaign_id))
        if c.opened or c.plays or c.cta_clicks
    )[:10]
    t = report.totals
    if not (t.sent or t.opened or t.plays or t.cta_clicks):
        return 0  # a quiet week on an idle account: no email saying nothing
    facts = WeeklyDigest(
        since=since,
        until=until,
        views=t.opened,
        plays=t.plays,
        cta_clicks=t.cta_clicks,
        campaigns=lines,
        link=_link(ports, "/analytics"),
    )
    return notify(ports, account_id, facts, dedupe=f"{since.isoformat()}..{until.isoformat()}")
