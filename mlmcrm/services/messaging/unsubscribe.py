"""One-click unsubscribe from marketing email (RFC 8058) and the footer every such email carries.

Each marketing email carries a link of its own, ``/api/unsubscribe/<token>``, in its body and in
the ``List-Unsubscribe`` header, with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. A
POST to it unsubscribes at once, without signing in; a GET only shows a page with the button
(link scanners follow links, and must not unsubscribe anyone). The token names the address and is
signed with the app's key, so nobody can unsubscribe an address they did not receive mail at.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.errors import ValidationFailed
from mlmcrm.models.messaging import EmailSuppression
from mlmcrm.services.platform import crypto
from mlmcrm.settings import get_settings

_PURPOSE = "unsubscribe"
_BAD = "This unsubscribe link is not valid. Use the link in the newest email you received."


def token_for(address: str) -> str:
    """The signed token of ``address``."""
    name = base64.urlsafe_b64encode(address.lower().encode()).decode().rstrip("=")
    return f"{name}.{crypto.keyed_hash(address.lower(), purpose=_PURPOSE)[:32]}"


def address_of(token: str) -> str:
    """The address a token names.

    Raises:
        ValidationFailed: The token is malformed or its signature is wrong.
    """
    name, _, signature = (token or "").partition(".")
    if not name or len(token) > 700:
        raise ValidationFailed(_BAD)
    try:
        address = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed(_BAD) from None
    expected = crypto.keyed_hash(address, purpose=_PURPOSE)[:32]
    if "@" not in address or not hmac.compare_digest(signature, expected):
        raise ValidationFailed(_BAD)
    return address


def link(address: str) -> str:
    """The one-click unsubscribe address of ``address``'s marketing mail."""
    base = get_settings().backend_url.rstrip("/")
    return f"{base}{routes.API_UNSUBSCRIBE}/{token_for(address)}"


def headers(url: str) -> tuple[tuple[str, str], ...]:
    """The RFC 8058 headers of a marketing email."""
    return (
        ("List-Unsubscribe", f"<{url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    )


def footer(body: str, *, link: str, postal_address: str) -> str:
    """``body`` with the company's postal address and the unsubscribe link below it."""
    lines = [body.rstrip(), "", "--"]
    if postal_address:
        lines.append(postal_address)
    lines.append(f"You get this because you are on our list. Unsubscribe: {link}")
    return "\n".join(lines) + "\n"


def unsubscribe(*, session: Session, token: str) -> str:
    """Stop marketing mail to the token's address at once (a bounce keeps its stricter scope).

    Returns:
        The address.

    Raises:
        ValidationFailed: The token is not valid.
    """
    address = address_of(token)
    session.execute(
        pg_insert(EmailSuppression)
        .values(address=address, scope="marketing", reason="unsubscribed")
        .on_conflict_do_nothing(index_elements=["address"])
    )
    return address
