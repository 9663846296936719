"""Onboarding (the post-confirmation trigger's use case) and team seats, on the ports' fakes."""

from __future__ import annotations

import pytest

from chalicelib.domain.auth import Principal
from chalicelib.domain.errors import ConflictError, ForbiddenError, InvalidInputError, LimitExceededError
from chalicelib.domain.identity import NewIdentity, onboard
from chalicelib.domain.models import Plan, Role
from chalicelib.domain.team import invite, remove_member, seat_quota, withdraw_invite
from tests.fakes import FakeAccountRepository, FakeMailer, FakeTeamRepository


def _setup() -> tuple[FakeAccountRepository, FakeTeamRepository, FakeMailer]:
    accounts = FakeAccountRepository()
    return accounts, FakeTeamRepository(accounts), FakeMailer()


def _owner(accounts: FakeAccountRepository, team: FakeTeamRepository, plan: Plan = Plan.PRO) -> Principal:
    user, _ = onboard(NewIdentity("sub-owner", "Owner@Example.com", company="Acme"), accounts, team)
    accounts.accounts[user.account_id] = accounts.accounts[user.account_id].model_copy(update={"plan": plan})
    return Principal(user.account_id, user.user_id, str(user.email), user.role)


def test_a_confirmed_user_gets_one_account_its_owner_and_a_7_day_trial() -> None:
    accounts, team, _ = _setup()
    user, created = onboard(NewIdentity("sub-1", "A@Example.com", company="Acme"), accounts, team)
    assert created and user.role is Role.OWNER and str(user.email) == "a@example.com"
    account = accounts.get(user.account_id)
    assert account.plan is Plan.TRIAL and account.name == "Acme"
    assert account.trial_ends_at is not None and (account.trial_ends_at - account.created_at).days == 7

    # WHEN the trigger is retried THEN nothing is created twice
    again, created_again = onboard(NewIdentity("sub-1", "a@example.com"), accounts, team)
    assert again == user and not created_again
    assert len(accounts.accounts) == 1 and len(accounts.users) == 1


def test_a_concurrent_attempt_that_lost_finds_the_winners_user() -> None:
    accounts, team, _ = _setup()
    winner, _ = onboard(NewIdentity("sub-1", "a@example.com"), accounts, team)

    class Late(FakeAccountRepository):
        def user_by_subject(self, subject: str):  # type: ignore[no-untyped-def]
            if not hasattr(self, "_seen"):
                self._seen = True  # the first read happened before the winner wrote
                from chalicelib.domain.errors import NotFoundError

                raise NotFoundError("user", subject)
            return super().user_by_subject(subject)

    late = Late()
    late.accounts, late.users = accounts.accounts, accounts.users
    found, created = onboard(NewIdentity("sub-1", "a@example.com"), late, FakeTeamRepository(late))
    assert found == winner and not created and len(accounts.accounts) == 1


def test_an_invited_email_joins_the_inviting_account_with_its_role() -> None:
    accounts, team, mailer = _setup()
    owner = _owner(accounts, team)
    sent = invite(owner, "New@Example.com", Role.ADMIN, accounts, team, mailer, "tailorcast signup")
    assert mailer.sent[0].to == "new@example.com" and "Acme" in mailer.sent[0].subject

    user, created = onboard(NewIdentity("sub-new", "new@example.com"), accounts, team)
    assert created and user.account_id == owner.account_id and user.role is Role.ADMIN
    assert team.invites(owner.account_id) == [] and len(accounts.accounts) == 1
    assert sent.invite_id not in {i.invite_id for i in team.invites(owner.account_id)}


def test_seats_count_members_and_invites_and_the_refusal_names_the_limit() -> None:
    accounts, team, mailer = _setup()
    owner = _owner(accounts, team, Plan.PRO)  # 3 seats: the owner and two more
    invite(owner, "b@example.com", Role.MEMBER, accounts, team, mailer, "x")
    second = invite(owner, "c@example.com", Role.MEMBER, accounts, team, mailer, "x")
    with pytest.raises(LimitExceededError, match="3 seats"):
        invite(owner, "d@example.com", Role.MEMBER, accounts, team, mailer, "x")
    withdraw_invite(owner, second.invite_id, accounts, team)  # frees the seat
    invite(owner, "d@example.com", Role.MEMBER, accounts, team, mailer, "x")


def test_the_trial_has_one_seat_and_says_what_unlocks_more() -> None:
    accounts, team, mailer = _setup()
    owner = _owner(accounts, team, Plan.TRIAL)
    with pytest.raises(LimitExceededError) as refused:
        invite(owner, "b@example.com", Role.MEMBER, accounts, team, mailer, "x")
    assert "1 seat" in refused.value.message and "Pro" in refused.value.message
    assert seat_quota(accounts.get(owner.account_id)).limit == 1


def test_only_owners_and_admins_manage_and_the_owner_stays() -> None:
    accounts, team, mailer = _setup()
    owner = _owner(accounts, team)
    invite(owner, "m@example.com", Role.MEMBER, accounts, team, mailer, "x")
    member, _ = onboard(NewIdentity("sub-m", "m@example.com"), accounts, team)
    as_member = Principal(member.account_id, member.user_id, str(member.email), member.role)
    with pytest.raises(ForbiddenError):
        invite(as_member, "x@example.com", Role.MEMBER, accounts, team, mailer, "x")
    with pytest.raises(InvalidInputError):
        invite(owner, "x@example.com", Role.OWNER, accounts, team, mailer, "x")
    with pytest.raises(ConflictError):
        invite(owner, "m@example.com", Role.MEMBER, accounts, team, mailer, "x")
    with pytest.raises(ForbiddenError):
        remove_member(owner, owner.user_id, accounts, team)
    remove_member(owner, member.user_id, accounts, team)
    assert [u.user_id for u in team.members(owner.account_id)] == [owner.user_id]


def test_an_invite_that_could_not_be_emailed_frees_its_seat() -> None:
    from chalicelib.domain.errors import StorageError

    down = FakeMailer()
    down.fail = True
    accounts, team, _ = _setup()
    owner = _owner(accounts, team, Plan.PRO)
    with pytest.raises(StorageError):
        invite(owner, "b@example.com", Role.MEMBER, accounts, team, down, "x")
    assert team.invites(owner.account_id) == []
    invite(owner, "b@example.com", Role.MEMBER, accounts, team, FakeMailer(), "x")  # the retry works
