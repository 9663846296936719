"""CDK entry point: ``cdk synth`` / ``cdk deploy -c stage=prod`` from this directory.

Context (``-c key=value``):

``stage``
    Stage name, default ``dev``. ``prod`` retains the table and user pool on delete.
``dependencies``
    ``requirements`` (default: Chalice pip-downloads Lambda wheels for ``requirements.txt``),
    ``app-only`` (template work without the network; the bundle is not deployable) or a path
    to a prebuilt Linux ``site-packages`` directory.
``upload_origins``
    Comma-separated browser origins allowed to POST uploads, default ``*``.
``mediaPublicKeyPem``
    The CloudFront public key (PEM text, or the path of a PEM file) the watch page's signed
    cookies are checked with. Without it the stack takes the stack parameter
    ``MediaPublicKeyPem`` at deploy time.
``senderDomain``
    The domain email is sent from (``no-reply@<domain>``); the stack makes it an SES identity.
    Without it the stack takes the stack parameter ``SenderDomain``.
``appBaseUrl``
    The console's URL (``https://…``), where Stripe's checkout and portal return the seller.
    Without it the stack takes the stack parameter ``AppBaseUrl``.
``cognitoEmailViaSes``
    ``true`` once the sender domain is verified in SES: Cognito then sends its codes through it
    instead of its built-in sender (50 messages a day). Default ``false``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The stack imports the application's own schema and ASL loader from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aws_cdk as cdk

from infrastructure.cdk.chalice_packaging import APP_ONLY, REQUIREMENTS, Dependencies
from infrastructure.cdk.tailorcast_stack import (
    APP_BASE_URL_CONTEXT,
    COGNITO_EMAIL_VIA_SES_CONTEXT,
    MEDIA_PUBLIC_KEY_CONTEXT,
    SENDER_DOMAIN_CONTEXT,
    TailorcastStack,
)


def _dependencies(value: str | None) -> Dependencies:
    if value in (None, REQUIREMENTS):
        return REQUIREMENTS
    if value == APP_ONLY:
        return APP_ONLY
    return Path(value).resolve()


def _public_key_pem(value: str | None) -> str | None:
    """PEM text as given, or read from the file ``value`` names."""
    if not value or value.lstrip().startswith("-----BEGIN"):
        return value or None
    return Path(value).expanduser().read_text()


def _flag(value: object) -> bool:
    """A context flag: ``true`` given as JSON (cdk.json) or as ``-c key=true``."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def main() -> None:
    app = cdk.App()
    stage = app.node.try_get_context("stage") or "dev"
    origins = app.node.try_get_context("upload_origins") or "*"
    TailorcastStack(
        app,
        f"Tailorcast-{stage}",
        stage=stage,
        dependencies=_dependencies(app.node.try_get_context("dependencies")),
        upload_origins=[origin.strip() for origin in origins.split(",")],
        media_public_key_pem=_public_key_pem(app.node.try_get_context(MEDIA_PUBLIC_KEY_CONTEXT)),
        sender_domain=app.node.try_get_context(SENDER_DOMAIN_CONTEXT) or None,
        app_base_url=app.node.try_get_context(APP_BASE_URL_CONTEXT) or None,
        cognito_email_via_ses=_flag(app.node.try_get_context(COGNITO_EMAIL_VIA_SES_CONTEXT)),
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
    )
    app.synth()


if __name__ == "__main__":
    main()
