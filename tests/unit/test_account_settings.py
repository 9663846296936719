"""Issue 18, item 6 and the branding entitlement: the pure rules and the use cases over fakes."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime

import pytest

from chalicelib.domain import account_deletion, branding, notifications, profile
from chalicelib.domain.account_export import build_zip, prospects_csv
from chalicelib.domain.account_records import JobKind, JobStatus, UserProfile, normalize_phone
from chalicelib.domain.analytics import AccountEngagement, CampaignUsage, Usage
from chalicelib.domain.errors import ForbiddenError, InvalidInputError, PayloadTooLargeError, StorageError
from chalicelib.domain.images import AVATAR, LOGO, fit
from chalicelib.domain.models import (
    Account,
    AccountStatus,
    BatchCounters,
    Branding,
    Plan,
    Prospect,
    RenderBatch,
    RenderBatchStatus,
    Role,
    User,
)
from tests.fakes import (
    FakeAccountJobRepository,
    FakeAccountRepository,
    FakeBrandingStore,
    FakeIdentityDirectory,
    FakeImageNormalizer,
    FakeMailer,
    FakeObjectStore,
    FakeProfileRepository,
    FakeRateLimiter,
    FakeSubscriptionCanceller,
    FakeTaskStarter,
)

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels"


# --------------------------------------------------------------------------- profile


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+1 (415) 555-0123", "+14155550123"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+33.1.23.45.67.89", "+33123456789"),
        ("+49/30/123456", "+4930123456"),
    ],
)
def test_phone_is_stored_in_e164(given: str, stored: str) -> None:
    assert normalize_phone(given) == stored


@pytest.mark.parametrize(
    "bad", ["415 555 0123", "+0 415 555 0123", "+1 415", "+1 415 555 0123 456789", "+1 ext 5"]
)
def test_phone_without_country_code_or_of_wrong_length_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"\+"):
        normalize_phone(bad)


def test_profile_update_names_the_bad_field_and_keeps_the_rest() -> None:
    repo = FakeProfileRepository()
    profile.update_profile(
        repo, "acct_a", "user_a", {"full_name": "Ada Lovelace", "phone": "+44 20 7946 0958"}
    )
    with pytest.raises(InvalidInputError) as caught:
        profile.update_profile(repo, "acct_a", "user_a", {"phone": "555-0123"})
    assert [i.loc for i in caught.value.issues] == ["body.phone"]
    stored = repo.get("acct_a", "user_a")
    assert (stored.full_name, stored.phone) == ("Ada Lovelace", "+442079460958")


def test_avatar_is_stored_under_the_account_prefix_and_the_old_one_removed() -> None:
    repo, media = FakeProfileRepository(), FakeObjectStore()
    first = profile.set_avatar(repo, media, FakeImageNormalizer(), "acct_a", "user_a", PNG + b"1")
    second = profile.set_avatar(repo, media, FakeImageNormalizer(), "acct_a", "user_a", PNG + b"2")
    assert first.avatar_key and second.avatar_key and first.avatar_key != second.avatar_key
    assert second.avatar_key.startswith("acct_a/profiles/user_a/avatar-")
    assert list(media.objects) == [second.avatar_key]


def test_avatar_over_5_mb_or_not_an_image_is_refused_before_storing() -> None:
    repo, media = FakeProfileRepository(), FakeObjectStore()
    with pytest.raises(PayloadTooLargeError, match="5 MB"):
        profile.set_avatar(repo, media, FakeImageNormalizer(), "a", "u", PNG + b"0" * (5 * 1024 * 1024))
    with pytest.raises(InvalidInputError) as caught:
        profile.set_avatar(repo, media, FakeImageNormalizer(), "a", "u", b"GIF89a....")
    assert caught.value.issues[0].loc == AVATAR.field
    assert media.objects == {}


def test_images_are_scaled_down_to_fit_never_up() -> None:
    assert fit(4000, 1000, LOGO.box) == (1200, 300)
    assert fit(100, 50, LOGO.box) == (100, 50)
    assert fit(3000, 3000, AVATAR.box) == (512, 512)


# --------------------------------------------------------------------------- branding


def test_contrast_matches_wcag() -> None:
    assert branding.contrast_with_white("#000000") == pytest.approx(21.0)
    assert branding.contrast_with_white("#ffffff") == pytest.approx(1.0)
    assert branding.contrast_with_white("#767676") == pytest.approx(4.54, abs=0.01)  # the AA threshold grey


def test_accent_is_normalized_and_a_light_one_refused_with_its_ratio() -> None:
    assert branding.normalize_accent("1A73E8") == "#1a73e8"
    with pytest.raises(InvalidInputError) as caught:
        branding.normalize_accent("#ffd700")
    issue = caught.value.issues[0]
    assert issue.loc == "body.accent_color"
    assert "1.40:1" in issue.message and "4.5:1" in issue.message
    with pytest.raises(InvalidInputError, match="invalid"):
        branding.normalize_accent("blue")


def _account(plan: Plan, status: AccountStatus = AccountStatus.ACTIVE, **kw: object) -> Account:
    return Account(account_id="acct_a", name="Acme", plan=plan, status=status, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("plan", "status", "shown"),
    [
        (Plan.TRIAL, AccountStatus.ACTIVE, False),
        (Plan.BASIC, AccountStatus.ACTIVE, False),
        (Plan.PRO, AccountStatus.ACTIVE, True),
        (Plan.AGENCY, AccountStatus.ACTIVE, True),
        (Plan.PRO, AccountStatus.PAST_DUE, True),
        (Plan.AGENCY, AccountStatus.CANCELLED, False),
        (Plan.PRO, AccountStatus.UNPAID, False),
    ],
)
def test_watch_pages_show_branding_only_on_an_entitled_plan(
    plan: Plan, status: AccountStatus, shown: bool
) -> None:
    stored = Branding(logo_key="acct_a/branding/logo-1.png", accent_color="#1a73e8", show_badge=False)
    look = branding.watch_brand(_account(plan, status, branding=stored), lambda k: f"https://cdn.test/{k}")
    if shown:
        assert look == branding.WatchBrand(
            logo_url="https://cdn.test/acct_a/branding/logo-1.png",
            accent="#1a73e8",
            accent_dark=branding.darker("#1a73e8"),
            show_badge=False,
        )
    else:
        assert look == branding.DEFAULT_LOOK and look.show_badge


@pytest.mark.parametrize("plan", [Plan.TRIAL, Plan.BASIC])
def test_setting_branding_below_pro_names_the_plan_that_unlocks_it(plan: Plan) -> None:
    accounts = FakeAccountRepository()
    accounts.accounts["acct_a"] = _account(plan)
    with pytest.raises(ForbiddenError, match=r"upgrade to Pro \(\$79/mo\)") as caught:
        branding.update_branding(
            FakeBrandingStore(accounts),
            accounts.get,
            "acct_a",
            accent_color="#1a73e8",
            accent_given=True,
            show_badge=False,
        )
    assert caught.value.code == "plan_upgrade_required"
    assert accounts.get("acct_a").branding is None


def test_logo_replaced_and_cleared_on_pro_and_clearing_is_allowed_after_a_downgrade() -> None:
    accounts = FakeAccountRepository()
    accounts.accounts["acct_a"] = _account(Plan.PRO)
    store, media = FakeBrandingStore(accounts), FakeObjectStore()
    first = branding.set_logo(store, accounts.get, media, FakeImageNormalizer(), "acct_a", PNG + b"1")
    second = branding.set_logo(store, accounts.get, media, FakeImageNormalizer(), "acct_a", PNG + b"2")
    assert list(media.objects) == [second.logo_key] != [first.logo_key]
    accounts.accounts["acct_a"] = accounts.get("acct_a").model_copy(update={"plan": Plan.BASIC})
    branding.clear_branding(store, accounts.get, media, "acct_a")
    assert accounts.get("acct_a").branding is None and media.objects == {}


# --------------------------------------------------------------------------- notifications


def _team() -> tuple[FakeAccountRepository, FakeProfileRepository]:
    accounts = FakeAccountRepository()
    accounts.accounts["acct_a"] = _account(Plan.PRO)
    accounts.users["sub-owner"] = User(
        account_id="acct_a", user_id="user_o", subject="sub-owner", email="owner@a.io"
    )
    accounts.users["sub-member"] = User(
        account_id="acct_a", user_id="user_m", subject="sub-member", email="member@a.io", role=Role.MEMBER
    )
    accounts.users["sub-other"] = User(
        account_id="acct_b", user_id="user_x", subject="sub-other", email="x@b.io"
    )
    return accounts, FakeProfileRepository(accounts)


def _ports(profiles: FakeProfileRepository, mailer: FakeMailer) -> notifications.NotificationPorts:
    return notifications.NotificationPorts(
        profiles, mailer, FakeRateLimiter(), console_url="https://app.test"
    )


def test_compose_escapes_html_and_keeps_text_plain() -> None:
    facts = notifications.BatchRendered(
        campaign_name="<script>alert(1)</script> & Co", completed=9, failed=1, total=10, succeeded=True
    )
    email = notifications.compose(facts, "a@b.io", "Ada")
    assert email.subject == "Your videos for <script>alert(1)</script> & Co are ready"
    assert "9 of 10 videos are ready, 1 failed." in email.text
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in email.html
    assert email.text.startswith("Hi Ada,")


def test_batch_rendered_goes_to_the_whole_team_once_and_respects_preferences() -> None:
    _, profiles = _team()
    profiles.save(
        UserProfile(account_id="acct_a", user_id="user_m").model_copy(
            update={
                "notifications": UserProfile(account_id="a", user_id="u").notifications.model_copy(
                    update={"batch_rendered": False}
                )
            }
        )
    )
    mailer = FakeMailer()
    ports = _ports(profiles, mailer)
    batch = RenderBatch(
        account_id="acct_a",
        campaign_id="camp_1",
        batch_id="bat_1",
        status=RenderBatchStatus.COMPLETED,
        total=3,
        counters=BatchCounters(completed=3),
    )
    assert notifications.notify_batch_rendered(ports, batch, "Q4") == 1
    assert notifications.notify_batch_rendered(ports, batch, "Q4") == 0  # a retried last step
    assert [e.to for e in mailer.sent] == ["owner@a.io"]
    assert "https://app.test/campaigns/camp_1" in mailer.sent[0].text


def test_billing_mail_goes_to_owners_only_and_a_failed_send_can_be_retried() -> None:
    _, profiles = _team()
    mailer = FakeMailer()
    ports = _ports(profiles, mailer)
    mailer.fail = True
    with pytest.raises(StorageError):
        notifications.notify_payment_failed(ports, "acct_a", "in_1", amount="$79.00")
    mailer.fail = False
    assert notifications.notify_payment_failed(ports, "acct_a", "in_1", amount="$79.00") == 1
    assert [e.to for e in mailer.sent] == ["owner@a.io"]
    assert "$79.00" in mailer.sent[0].text
    ends = datetime(2026, 3, 9, tzinfo=UTC)
    assert notifications.notify_trial_ending(ports, "acct_a", ends) == 1
    assert mailer.sent[-1].subject == "Your Tailorcast trial ends on March 9"


def test_weekly_digest_reports_the_week_and_skips_a_quiet_one() -> None:
    _, profiles = _team()
    mailer = FakeMailer()
    ports = _ports(profiles, mailer)
    asked: list[tuple[date, date]] = []

    def engagement(since: date, until: date) -> AccountEngagement:
        asked.append((since, until))
        return AccountEngagement(
            account_id="acct_a",
            since=since,
            until=until,
            by_month=[],
            by_campaign=[CampaignUsage(campaign_id="camp_1", opened=4, plays=6, cta_clicks=2)],
            totals=Usage(sent=10, opened=4, plays=6, cta_clicks=2),
        )

    sent = notifications.send_weekly_digest(
        ports, "acct_a", engagement, lambda: {"camp_1": "Q4"}, date(2026, 3, 9)
    )
    assert sent == 1 and asked == [(date(2026, 3, 2), date(2026, 3, 8))]
    email = mailer.sent[0]
    assert email.to == "owner@a.io"
    assert email.subject == "Your week on Tailorcast: 4 views, 6 plays, 2 CTA clicks"
    assert "- Q4: 4 views, 6 plays, 2 CTA clicks" in email.text

    def quiet(since: date, until: date) -> AccountEngagement:
        return AccountEngagement(
            account_id="acct_a", since=since, until=until, by_month=[], by_campaign=[], totals=Usage()
        )

    assert notifications.send_weekly_digest(ports, "acct_a", quiet, dict, date(2026, 3, 16)) == 0


# --------------------------------------------------------------------------- export and deletion


def test_prospects_csv_neutralizes_formulas_and_keeps_custom_fields() -> None:
    p = Prospect(
        account_id="a",
        campaign_id="c",
        prospect_id="p",
        first_name="=HYPERLINK(1)",
        email="x@y.io",
        custom_fields={"tier": "gold"},
    )
    text = prospects_csv([p]).decode("utf-8-sig")
    assert '"\'=HYPERLINK(1)"' in text and '{""tier"": ""gold""}' in text
    archive = zipfile.ZipFile(io.BytesIO(build_zip({"a.json": b"{}"})))
    assert archive.namelist() == ["README.txt", "a.json"]


def _deletion(
    role: Role = Role.OWNER,
) -> tuple[FakeAccountRepository, FakeAccountJobRepository, FakeTaskStarter]:
    accounts, _ = _team()
    return accounts, FakeAccountJobRepository(), FakeTaskStarter()


def test_deletion_needs_the_owner_and_the_exact_name_and_is_requested_once() -> None:
    accounts, jobs, tasks = _deletion()
    kw = {"account_id": "acct_a", "user_id": "user_m"}
    with pytest.raises(ForbiddenError):
        account_deletion.request_deletion(accounts, jobs, tasks, role=Role.MEMBER, confirm="Acme", **kw)
    with pytest.raises(InvalidInputError) as caught:
        account_deletion.request_deletion(accounts, jobs, tasks, role=Role.OWNER, confirm="acme", **kw)
    assert caught.value.issues[0].loc == "body.confirm"
    assert tasks.started == [] and jobs.jobs == {}
    account_deletion.request_deletion(accounts, jobs, tasks, role=Role.OWNER, confirm=" Acme ", **kw)
    jobs.save(
        jobs.get("acct_a", JobKind.DELETION, "deletion").model_copy(update={"status": JobStatus.RUNNING})
    )
    account_deletion.request_deletion(accounts, jobs, tasks, role=Role.OWNER, confirm="Acme", **kw)
    assert tasks.started == [
        ("delete_account", {"account_id": "acct_a"})
    ]  # a running one is not started twice


class _Eraser:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def campaign_ids(self, account_id: str) -> list[str]:
        return ["camp_1"]

    def erase_campaign(self, account_id: str, campaign_id: str) -> int:
        self.calls.append(f"campaign {campaign_id}")
        return 1

    def erase_user(self, user: User) -> None:
        self.calls.append(f"user {user.user_id}")

    def erase_pointers(self, account_id: str) -> int:
        self.calls.append("pointers")
        return 0

    def erase_account_items(self, account_id: str, keep: object) -> int:
        self.calls.append("items")
        return 1

    def erase_last(self, account_id: str, sort_keys: object) -> None:
        self.calls.append("last")


def test_a_failed_deletion_resumes_at_the_step_it_stopped_at() -> None:
    accounts, profiles = _team()
    accounts.accounts["acct_a"] = accounts.get("acct_a").model_copy(
        update={"stripe_subscription_id": "sub_1"}
    )
    jobs, tasks, eraser = FakeAccountJobRepository(), FakeTaskStarter(), _Eraser()
    identities = FakeIdentityDirectory({"sub-owner", "sub-member", "sub-other"})
    identities.fail_times = 1
    uploads, media = FakeObjectStore(), FakeObjectStore()
    uploads.objects.update(
        {"uploads/acct_a/c/x": b"1", "uploads/acct_b/c/x": b"2", "account-exports/acct_a/e/z": b"3"}
    )
    media.objects.update({"acct_a/branding/logo.png": b"1", "acct_b/branding/logo.png": b"2"})
    canceller = FakeSubscriptionCanceller()
    ports = account_deletion.DeletionPorts(
        accounts, profiles, jobs, eraser, identities, canceller, uploads, media
    )
    account_deletion.request_deletion(
        accounts, jobs, tasks, account_id="acct_a", user_id="user_o", role=Role.OWNER, confirm="Acme"
    )

    with pytest.raises(StorageError):
        account_deletion.run_deletion(ports, "acct_a")
    failed = jobs.get("acct_a", JobKind.DELETION, "deletion")
    assert (failed.status, failed.step) == (JobStatus.FAILED, "users")
    assert eraser.calls == ["campaign camp_1"]

    jobs.get("acct_a", JobKind.DELETION, "deletion")
    assert account_deletion.run_deletion(ports, "acct_a") == "deleted"
    assert eraser.calls == [
        "campaign camp_1",
        "user user_o",
        "user user_m",
        "pointers",  # API keys stop working with the logins
        "pointers",  # and again before the partition (a request in flight may have counted)
        "items",
        "last",
    ]
    assert canceller.cancelled == ["sub_1"]
    assert identities.subjects == {"sub-other"}
    assert sorted(uploads.objects) == ["uploads/acct_b/c/x"] and sorted(media.objects) == [
        "acct_b/branding/logo.png"
    ]
