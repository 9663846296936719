"""Sign-up, sign-in and passwords: the user pool's flows behind the API (Cognito underneath).

Public routes, except log-out and the password change, which act on the caller's own session. A
code is never returned: Cognito emails it (locally: the outbox, ``tailorcast outbox list``).
"""

from __future__ import annotations

from chalice.app import Blueprint
from pydantic import BaseModel, EmailStr, Field

from chalicelib import dependencies
from chalicelib.api._http import route
from chalicelib.api.schemas import Strict
from chalicelib.domain.auth import Principal
from chalicelib.domain.identity import PASSWORD_POLICY
from chalicelib.domain.team import normalize_email

bp = Blueprint(__name__)

Password = Field(min_length=1, max_length=256, description=f"Cognito's policy: {PASSWORD_POLICY}")
Code = Field(min_length=1, max_length=16, description="the code emailed to you")


class SignUpIn(Strict):
    email: EmailStr
    password: str = Password
    name: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = Field(default=None, min_length=1, max_length=200)


class ConfirmIn(Strict):
    email: EmailStr
    code: str = Code


class EmailIn(Strict):
    email: EmailStr


class LoginIn(Strict):
    email: EmailStr
    password: str = Password


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=8192)


class ResetPasswordIn(Strict):
    email: EmailStr
    code: str = Code
    password: str = Password


class ChangePasswordIn(Strict):
    old_password: str = Password
    new_password: str = Password


class AuthMessage(BaseModel):
    email: str | None = None
    message: str


class TokensOut(BaseModel):
    access_token: str
    id_token: str
    refresh_token: str | None = Field(description="absent from a refresh: keep the one you have")
    expires_in: int = Field(description="seconds the access token is valid")
    token_type: str = "Bearer"  # noqa: S105 - the token type


def _tokens(tokens: object) -> TokensOut:
    return TokensOut.model_validate(tokens, from_attributes=True)


@route(
    bp,
    "/auth/signup",
    "POST",
    summary="Sign up (a code is emailed)",
    public=True,
    status=201,
    body=SignUpIn,
    response=AuthMessage,
)
def sign_up(body: SignUpIn) -> AuthMessage:
    email = normalize_email(str(body.email))
    dependencies.get_identity_provider().sign_up(email, body.password, body.name, body.company)
    return AuthMessage(
        email=email,
        message="we emailed you a 6-digit code: confirm it with POST /auth/confirm (valid 24 hours)",
    )


@route(
    bp,
    "/auth/confirm",
    "POST",
    summary="Confirm the email with its code",
    public=True,
    body=ConfirmIn,
    response=AuthMessage,
)
def confirm(body: ConfirmIn) -> AuthMessage:
    email = normalize_email(str(body.email))
    dependencies.get_identity_provider().confirm_sign_up(email, body.code.strip())
    return AuthMessage(email=email, message="your email is confirmed and your account is ready: log in")


@route(
    bp,
    "/auth/resend-code",
    "POST",
    summary="Email a new confirmation code",
    public=True,
    status=202,
    body=EmailIn,
    response=AuthMessage,
)
def resend_code(body: EmailIn) -> AuthMessage:
    email = normalize_email(str(body.email))
    dependencies.get_identity_provider().resend_code(email)
    return AuthMessage(email=email, message="we emailed you a new code (the previous one no longer works)")


@route(
    bp,
    "/auth/login",
    "POST",
    summary="Log in: access, id and refresh tokens",
    public=True,
    body=LoginIn,
    response=TokensOut,
)
def login(body: LoginIn) -> TokensOut:
    return _tokens(
        dependencies.get_identity_provider().log_in(normalize_email(str(body.email)), body.password)
    )


@route(
    bp,
    "/auth/refresh",
    "POST",
    summary="New access and id tokens from a refresh token",
    public=True,
    body=RefreshIn,
    response=TokensOut,
)
def refresh(body: RefreshIn) -> TokensOut:
    return _tokens(dependencies.get_identity_provider().refresh(body.refresh_token))


@route(
    bp, "/auth/logout", "POST", summary="Log out everywhere: every token of the user is revoked", status=204
)
def logout(principal: Principal) -> None:
    dependencies.get_identity_provider().log_out(_bearer())


@route(
    bp,
    "/auth/forgot-password",
    "POST",
    summary="Email a password reset code",
    public=True,
    status=202,
    body=EmailIn,
    response=AuthMessage,
)
def forgot_password(body: EmailIn) -> AuthMessage:
    email = normalize_email(str(body.email))
    dependencies.get_identity_provider().forgot_password(email)
    return AuthMessage(
        email=email,
        message="if this email has an account, we emailed it a code: use it with POST /auth/reset-password",
    )


@route(
    bp,
    "/auth/reset-password",
    "POST",
    summary="Set a new password with the emailed code",
    public=True,
    body=ResetPasswordIn,
    response=AuthMessage,
)
def reset_password(body: ResetPasswordIn) -> AuthMessage:
    email = normalize_email(str(body.email))
    dependencies.get_identity_provider().reset_password(email, body.code.strip(), body.password)
    return AuthMessage(email=email, message="your password is changed: log in with the new one")


@route(bp, "/me/password", "POST", summary="Change the caller's password", status=204, body=ChangePasswordIn)
def change_password(principal: Principal, body: ChangePasswordIn) -> None:
    dependencies.get_identity_provider().change_password(_bearer(), body.old_password, body.new_password)


def _bearer() -> str:
    """The caller's access token (the route decorator has verified it already)."""
    header = str(bp.current_request.headers.get("authorization", ""))
    return header.partition(" ")[2].strip()
