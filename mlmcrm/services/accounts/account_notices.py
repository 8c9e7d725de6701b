"""Tell people about changes to their account, by email to the account's address.

Every change that an attacker who took over an account would make (a new password, 2FA turned
off or replaced, an API token made, the email or the role changed) is told to the address on
the account, so the owner learns of it even when they did not make it. The message goes through
the messaging outbox (``outbox.queue_email``): it is sent by the worker once the change
commits, and never if the change rolls back.

The messages name what changed, when and from which address, and never carry a secret: no
token, no code, no link that does something.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.integrations import email as email_adapter
from mlmcrm.models import User
from mlmcrm.models.base import utcnow
from mlmcrm.services.messaging import outbox
from mlmcrm.settings import get_settings


@dataclass(frozen=True)
class _Notice:
    subject: str
    what: str
    if_not_you: str


_SECURE_YOUR_ACCOUNT = (
    "If this was not you, someone else may have your password: choose a new one at once "
    "with 'Forgot password' on the sign-in page ({forgot}) and tell support."
)
NOTICES: dict[str, _Notice] = {
    "password_changed": _Notice(
        "Your password was changed",
        "The password of your account was changed. Every browser was signed out and your API "
        "tokens were revoked.",
        _SECURE_YOUR_ACCOUNT,
    ),
    "password_reset": _Notice(
        "Your password was reset",
        "The password of your account was reset with a link sent to this address. Every "
        "browser was signed out and your API tokens were revoked.",
        "If this was not you, someone can read this mailbox: secure it, then choose a new "
        "password with 'Forgot password' ({forgot}) and tell support.",
    ),
    "two_factor_enabled": _Notice(
        "Two-factor authentication was turned on",
        "Two-factor authentication was turned on for your account: signing in now needs a code "
        "from an authenticator app.",
        _SECURE_YOUR_ACCOUNT,
    ),
    "two_factor_disabled": _Notice(
        "Two-factor authentication was turned off",
        "Two-factor authentication was turned off for your account: signing in now needs only "
        "the password.",
        _SECURE_YOUR_ACCOUNT,
    ),
    "two_factor_replaced": _Notice(
        "Your authenticator app was replaced",
        "Two-factor authentication of your account now uses another authenticator app; codes "
        "from the previous one no longer work, nor do the previous recovery codes.",
        _SECURE_YOUR_ACCOUNT,
    ),
    "recovery_codes_regenerated": _Notice(
        "New recovery codes were made",
        "New two-factor recovery codes were made for your account; the previous ones no longer "
        "work.",
        _SECURE_YOUR_ACCOUNT,
    ),
    "api_token_created": _Notice(
        "A new API token was created",
        "A personal API token was created for your account. Programs holding it can act as you "
        "within its scopes until it expires or is revoked.",
        "If this was not you, revoke it on the API tokens page ({tokens}), then choose a new "
        "password with 'Forgot password' ({forgot}) and tell support.",
    ),
    "api_token_revoked": _Notice(
        "An API token was revoked",
        "A personal API token of your account was revoked: programs using it can no longer "
        "reach your account.",
        "If this was not you, check your API tokens ({tokens}) and signed-in devices "
        "({sessions}), and choose a new password with 'Forgot password' ({forgot}).",
    ),
    "api_tokens_revoked_all": _Notice(
        "Your API tokens were revoked",
        "Every personal API token of your account was revoked: programs using them can no "
        "longer reach your account. Create new tokens on the API tokens page ({tokens}) where "
        "you still need them.",
        "If you did not expect this, tell support.",
    ),
    "email_changed": _Notice(
        "Your login email was changed",
        "The login email of your account was changed.",
        "If this was not you, contact support at once: they can give the account back to you.",
    ),
    "role_changed": _Notice(
        "Your role was changed",
        "An administrator changed the role of your account. Every browser was signed out and "
        "your API tokens were revoked; sign in again to see what you may now do.",
        "If you did not expect this, ask your administrator or tell support.",
    ),
    "two_factor_reset": _Notice(
        "Your two-factor authentication was reset",
        "An administrator turned off the two-factor authentication of your account, as you "
        "asked after losing your authenticator. Every browser was signed out. Set it up again "
        "from your account page when you next sign in (company staff must, before anything "
        "else opens).",
        "If you did not expect this, tell support at once: someone may be trying to take over "
        "your account.",
    ),
}
"""Every kind of notice: its subject, what happened, and what to do if it was not them."""


def notify_account_change(
    *,
    session: Session,
    user: User,
    change: str,
    details: list[str] | None = None,
    ip_address: str | None = None,
    to: str | None = None,
) -> int:
    """Queue the email telling ``user`` that ``change`` happened to their account.

    Args:
        session: The unit of work of the change; the email is sent only if it commits.
        user: The account that changed.
        change: A key of :data:`NOTICES`.
        details: Plain lines to add (a token's name, the new role); never a secret.
        ip_address: Where the request came from, when a person made the change over the web.
        to: Another address to write to (the previous one, after an email change).

    Returns:
        The id of the email's job row.

    Raises:
        KeyError: ``change`` is not a known notice (a programming error, never user input).
    """
    notice = NOTICES[change]
    app_url = get_settings().app_url.rstrip("/")
    links = {
        "forgot": app_url + routes.FORGOT_PASSWORD,
        "tokens": app_url + routes.ACCOUNT_TOKENS,
        "sessions": app_url + routes.ACCOUNT_SESSIONS,
    }
    when = f"When: {utcnow():%Y-%m-%d %H:%M} UTC"
    if ip_address:
        when += f", from the address {ip_address}"
    lines = [
        "Hello,",
        "",
        notice.what.format(**links),
        *(details or []),
        when + ".",
        "",
        "If this was you, there is nothing to do.",
        notice.if_not_you.format(**links),
    ]
    return outbox.queue_email(
        email_adapter.OutgoingEmail(
            to=to or user.email, subject=notice.subject, body="\n".join(lines) + "\n"
        ),
        session=session,
        user_id=user.id,
    )
