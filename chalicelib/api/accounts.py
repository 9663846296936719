"""The caller's own account."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib import dependencies
from chalicelib.api._http import route
from chalicelib.api.schemas import MeOut
from chalicelib.domain.auth import Principal

bp = Blueprint(__name__)


@route(bp, "/me", "GET", summary="The signed-in user and their account", response=MeOut)
def me(principal: Principal) -> MeOut:
    account = dependencies.get_account_repo().get(principal.account_id)
    return MeOut.of(account, principal)
