"""The account's team: members and pending invites, within the plan's seats."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from chalice.app import Blueprint
from pydantic import BaseModel, EmailStr

from chalicelib import dependencies
from chalicelib.api._http import route
from chalicelib.api.schemas import Strict
from chalicelib.domain import team
from chalicelib.domain.auth import Principal
from chalicelib.domain.models import Role
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class MemberOut(BaseModel):
    user_id: str
    email: str
    role: str
    created_at: datetime


class InviteOut(BaseModel):
    invite_id: str
    email: str
    role: str
    invited_by: str
    created_at: datetime

    @classmethod
    def of(cls, invite: team.Invite) -> InviteOut:
        return cls(
            invite_id=invite.invite_id,
            email=str(invite.email),
            role=invite.role.value,
            invited_by=invite.invited_by,
            created_at=invite.created_at,
        )


class TeamOut(BaseModel):
    members: list[MemberOut]
    invites: list[InviteOut]
    seats: int
    seats_used: int


class InviteIn(Strict):
    email: EmailStr
    role: Literal["admin", "member"] = "member"


@route(bp, "/team", "GET", summary="The account's members and pending invites", response=TeamOut)
def get_team(principal: Principal) -> TeamOut:
    repo = dependencies.get_team_repo()
    members = repo.members(principal.account_id)
    invites = repo.invites(principal.account_id)
    account = dependencies.get_account_repo().get(principal.account_id)
    return TeamOut(
        members=[
            MemberOut(user_id=m.user_id, email=str(m.email), role=m.role.value, created_at=m.created_at)
            for m in members
        ],
        invites=[InviteOut.of(i) for i in invites],
        seats=team.seat_quota(account).limit,
        seats_used=len(members) + len(invites),
    )


@route(
    bp,
    "/team/invites",
    "POST",
    summary="Invite someone by email (owner or admin)",
    status=201,
    body=InviteIn,
    response=InviteOut,
)
def create_invite(principal: Principal, body: InviteIn) -> InviteOut:
    settings = get_settings()
    hint = (
        f"{settings.app_base_url.rstrip('/')}/signup"
        if settings.app_base_url
        else "POST /auth/signup, or `tailorcast signup`"
    )
    created = team.invite(
        principal,
        str(body.email),
        Role(body.role),
        dependencies.get_account_repo(),
        dependencies.get_team_repo(),
        dependencies.get_mailer(),
        hint,
    )
    return InviteOut.of(created)


@route(
    bp,
    "/team/invites/{invite_id}",
    "DELETE",
    summary="Withdraw a pending invite (owner or admin)",
    status=204,
)
def delete_invite(principal: Principal, invite_id: str) -> None:
    team.withdraw_invite(principal, invite_id, dependencies.get_account_repo(), dependencies.get_team_repo())


@route(
    bp,
    "/team/members/{user_id}",
    "DELETE",
    summary="Remove a member (owner or admin; never the owner)",
    status=204,
)
def delete_member(principal: Principal, user_id: str) -> None:
    team.remove_member(principal, user_id, dependencies.get_account_repo(), dependencies.get_team_repo())
