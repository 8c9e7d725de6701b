"""Throttles: how often one client, or one email address, may use a public page.

Every limit lives in :data:`LIMITS`. Counters are rows of ``throttle_hits`` in PostgreSQL, one
per bucket, key and fixed window, bumped with ``INSERT … ON CONFLICT DO UPDATE … RETURNING``:
the upsert is atomic, and the row lock it takes holds concurrent hits on the same key until the
transaction ends, so parallel requests from one client are counted one after the other and never
both slip under the limit. PostgreSQL rather than Redis because the count belongs to the
caller's transaction: a request that rolls back (bad input, nothing created, nothing sent) does
not count, and the per-address count covers exactly the emails that were committed for sending.

Keys are stored as keyed hashes, so the table holds no email or network address. A client is
counted by :func:`mlmcrm.services.platform.client_address.throttle_key` (an IPv4 address or
an IPv6 /64);
a request whose address is unknown (a Unix socket with no trusted proxy in front) is not counted
per client, rather than lumping every such client into one bucket that anyone could fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import TooManyRequests
from mlmcrm.models.base import utcnow
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.client_address import throttle_key


@dataclass(frozen=True)
class Limit:
    """At most ``hits`` in each fixed window of ``window``."""

    hits: int
    window: timedelta


JOIN_PER_CLIENT = "join.client"
PASSWORD_RESET_PER_CLIENT = "password_reset.client"
CHECKOUT_PER_CLIENT = "checkout.client"
EMAILS_PER_ADDRESS = "email.address"

LIMITS: dict[str, Limit] = {
    # A household or an office signs a few people up; a script signs up hundreds.
    JOIN_PER_CLIENT: Limit(10, timedelta(hours=1)),
    PASSWORD_RESET_PER_CLIENT: Limit(10, timedelta(hours=1)),
    # A buyer who goes back and changes the cart makes a new checkout each time.
    CHECKOUT_PER_CLIENT: Limit(20, timedelta(hours=1)),
    # Sign-up confirmations, sign-up warnings and reset links to one mailbox, all together.
    EMAILS_PER_ADDRESS: Limit(3, timedelta(hours=1)),
}
"""Every throttle of the public pages: bucket → limit. ``docs/security.md`` lists them."""

KEEP_COUNTERS = timedelta(days=1)
"""Counters older than this are deleted by the daily clean-up (:func:`purge`)."""

WAIT_MESSAGE = "Too many attempts from your network. Wait an hour and try again."


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def hit(
    *,
    session: Session,
    bucket: str,
    key: str,
    limit: int,
    window: timedelta,
    now: datetime | None = None,
) -> bool:
    """Count one use of ``key`` in ``bucket`` and say whether it is within ``limit``.

    The count is part of the caller's transaction (it is undone if that rolls back).

    Returns:
        True while this use is one of the first ``limit`` in the current window.
    """
    count = session.execute(
        text(
            "INSERT INTO throttle_hits (bucket, key_hash, window_start, hits)"
            " VALUES (:bucket, :key, :start, 1)"
            " ON CONFLICT (bucket, key_hash, window_start)"
            " DO UPDATE SET hits = throttle_hits.hits + 1 RETURNING hits"
        ),
        {
            "bucket": bucket,
            "key": crypto.keyed_hash(key, purpose=f"throttle:{bucket}"),
            "start": _window_start(now or utcnow(), window),
        },
    ).scalar_one()
    return int(count) <= limit


def allow(bucket: str, key: str, *, session: Session, now: datetime | None = None) -> bool:
    """:func:`hit` with the limit of ``bucket`` in :data:`LIMITS`."""
    limit = LIMITS[bucket]
    return hit(
        session=session, bucket=bucket, key=key, limit=limit.hits, window=limit.window, now=now
    )


def check_client(
    bucket: str, ip_address: str | None, *, session: Session, now: datetime | None = None
) -> None:
    """Count one request of the client at ``ip_address``; refuse it over the limit.

    Raises:
        TooManyRequests: The client used up the bucket's limit in this window.
    """
    key = throttle_key(ip_address)
    if key is not None and not allow(bucket, key, session=session, now=now):
        raise TooManyRequests(WAIT_MESSAGE)


def email_allowed(address: str, *, session: Session, now: datetime | None = None) -> bool:
    """Count one email to ``address``; False once the address had its share this hour."""
    return allow(EMAILS_PER_ADDRESS, address.strip().lower(), session=session, now=now)


def purge(*, session: Session, now: datetime | None = None) -> int:
    """Delete counters of windows that ended long ago; the caller commits.

    Returns:
        How many were deleted.
    """
    result = session.execute(
        text("DELETE FROM throttle_hits WHERE window_start < :cutoff"),
        {"cutoff": (now or utcnow()) - KEEP_COUNTERS},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # a DML statement's result is a CursorResult
