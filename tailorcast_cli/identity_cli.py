"""``tailorcast signup|confirm|resend-code|login|logout|whoami``, ``password forgot|reset|change``
and ``outbox list|open``: the account's sign-in on the running local stack, through the API's
``/auth`` routes (Cognito underneath), and the local outbox where the codes arrive."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tailorcast_cli.main import (
    DEFAULT_STATE_DIR,
    StateDir,
    _api,
    _render_client,
    _running_stack,
    console,
    err,
)

Email = Annotated[str, typer.Option(prompt=True, help="Your email (your username)")]
Code = Annotated[
    str, typer.Option(prompt=True, help="The code we emailed (`tailorcast outbox list` locally)")
]


def _password(prompt: str = "Password", confirm: bool = False) -> Any:
    return typer.Option(
        prompt=prompt, hide_input=True, confirmation_prompt=confirm, envvar="TAILORCAST_PASSWORD"
    )


def _auth(state_dir: Path) -> Any:
    from tailorcast_cli.session import AuthApi

    return AuthApi(_running_stack(state_dir)["api"])


def signup(
    email: Email,
    password: Annotated[str, _password(confirm=True)],
    name: Annotated[str | None, typer.Option(help="Your name")] = None,
    company: Annotated[str | None, typer.Option(help="Your company (the account's name)")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Sign up; a 6-digit code is emailed (locally: `tailorcast outbox list`)."""
    body: dict[str, Any] = {"email": email, "password": password}
    body.update({k: v for k, v in (("name", name), ("company", company)) if v})
    reply = _api(lambda: _auth(state_dir).message("/auth/signup", body))
    console.print(reply.message)
    console.print("then: [cyan]tailorcast confirm --email " + (reply.email or email) + " --code CODE[/]")


def confirm(email: Email, code: Code, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Confirm your email with the code; your account (a 7-day trial) is created."""
    reply = _api(lambda: _auth(state_dir).message("/auth/confirm", {"email": email, "code": code}))
    console.print(reply.message + ": [cyan]tailorcast login[/]")


def resend_code(email: Email, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Email a new confirmation code."""
    console.print(_api(lambda: _auth(state_dir).message("/auth/resend-code", {"email": email})).message)


def login(
    email: Email, password: Annotated[str, _password()], state_dir: StateDir = DEFAULT_STATE_DIR
) -> None:
    """Log in and keep the session (tokens in <state dir>/credentials.json, readable by you only)."""
    from tailorcast_cli.session import Credentials, save

    auth = _auth(state_dir)
    tokens = _api(lambda: auth.login(email, password))
    path = save(state_dir, Credentials.of(auth.api_url, email.strip().lower(), tokens))
    console.print(f"logged in as [bold]{email}[/]; session kept in {path}")


def logout(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Log out everywhere (every token of yours is revoked) and forget the stored session."""
    from tailorcast_cli.client import ApiError
    from tailorcast_cli.session import NotLoggedInError, forget, load, refreshed

    credentials = load(state_dir)
    if credentials is None:
        console.print("not logged in")
        return
    auth = _auth(state_dir)
    try:
        auth.logout(credentials.access_token)
    except ApiError as exc:
        if exc.status != 401:
            raise
        with suppress(NotLoggedInError):  # expired: a fresh token signs out (unless already out)
            auth.logout(refreshed(state_dir, credentials).access_token)
    forget(state_dir)
    console.print(f"logged out {credentials.email}")


def whoami(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Who you are logged in as, and your account."""
    from contextlib import closing

    with closing(_render_client(state_dir, None)) as client:
        me = _api(client.me)
    account = me.account
    trial = f", trial ends {account.trial_ends_at:%Y-%m-%d}" if account.trial_ends_at else ""
    console.print(
        f"{me.email} ({me.role}) in [bold]{account.name}[/] [{account.account_id}]: "
        f"plan {account.plan}{trial}"
    )


password_app = typer.Typer(help="Your password: forgot, reset, change.", no_args_is_help=True)


@password_app.command("forgot")
def password_forgot(email: Email, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Email a code to reset your password."""
    console.print(_api(lambda: _auth(state_dir).message("/auth/forgot-password", {"email": email})).message)


@password_app.command("reset")
def password_reset(
    email: Email,
    code: Code,
    password: Annotated[str, _password("New password", confirm=True)],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Set a new password with the emailed code."""
    body = {"email": email, "code": code, "password": password}
    console.print(_api(lambda: _auth(state_dir).message("/auth/reset-password", body)).message)


@password_app.command("change")
def password_change(
    old_password: Annotated[str, typer.Option(prompt="Current password", hide_input=True)],
    new_password: Annotated[
        str, typer.Option(prompt="New password", hide_input=True, confirmation_prompt=True)
    ],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Change your password (you stay logged in)."""
    from contextlib import closing

    from tailorcast_cli.session import load

    with closing(_render_client(state_dir, None)):
        credentials = load(state_dir)  # fresh: opening the client refreshed an expired token
    assert credentials is not None
    _api(lambda: _auth(state_dir).change_password(credentials.access_token, old_password, new_password))
    console.print("password changed")


outbox_app = typer.Typer(help="The local outbox: the emails the local stack has sent.", no_args_is_help=True)


@outbox_app.command("list")
def outbox_list(
    to: Annotated[str | None, typer.Option(help="only the emails to this address")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """The emails sent, newest first (codes, invites, notifications)."""
    from devstack.outbox import read_remote

    messages = [
        m
        for m in read_remote(_running_stack(state_dir)["aws"])
        if not to or to.lower() in " ".join(m.to).lower()
    ]
    if not messages:
        console.print("the outbox is empty")
        return
    table = Table(title="Local outbox")
    for column in ("id", "sent", "to", "subject", "code"):
        table.add_column(column)
    for m in reversed(messages):
        sent = datetime.fromtimestamp(m.sent_at, UTC).strftime("%Y-%m-%d %H:%M:%S") if m.sent_at else "—"
        table.add_row(m.message_id, sent, ", ".join(m.to), m.subject, m.code() or "")
    console.print(table)


@outbox_app.command("open")
def outbox_open(
    message_id: Annotated[str, typer.Argument(help="The message (`tailorcast outbox list`)")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Print one email."""
    from devstack.outbox import read_remote

    found = read_remote(_running_stack(state_dir)["aws"], message_id)
    if found is None:
        err.print(f"[red]error:[/] no message {message_id} in the outbox")
        raise typer.Exit(1)
    print(f"From: {found.sender}\nTo: {', '.join(found.to)}\nSubject: {found.subject}\n\n{found.body}")


def register(app: typer.Typer) -> None:
    for name, command in (
        ("signup", signup),
        ("confirm", confirm),
        ("resend-code", resend_code),
        ("login", login),
        ("logout", logout),
        ("whoami", whoami),
    ):
        app.command(name)(command)
    app.add_typer(password_app, name="password")
    app.add_typer(outbox_app, name="outbox")
