from __future__ import annotations

import pytest

from mlmcrm import settings
from mlmcrm.services.accounts import auth
from tests.factories import PASSWORD
from tests.smtp_sink import SmtpSink


@pytest.fixture()
def smtp(monkeypatch, redis_url):
    """A local SMTP server that the app sends to; the test reads what arrived.

    Emails go out through the worker: call :func:`deliver_emails` after the commit. Messages
    earlier tests left waiting are forgotten, so the worker sends only this test's.
    """
    from rq import Queue
    from sqlalchemy import text

    from mlmcrm.db import get_engine
    from mlmcrm.services.platform.jobs import redis_connection
    from mlmcrm.services.platform.mail import EMAIL_QUEUE

    Queue(EMAIL_QUEUE, connection=redis_connection()).empty()
    with get_engine("owner").begin() as connection:
        connection.execute(
            text("DELETE FROM messages WHERE status IN ('queued', 'held', 'sending')")
        )
    sink = SmtpSink().start()
    monkeypatch.setenv("SMTP_URL", sink.url)
    settings.get_settings.cache_clear()
    try:
        yield sink
    finally:
        sink.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def signed_in(session, user, *, ip="10.9.8.7", user_agent="pytest"):
    """Log ``user`` in (password only) and return ``(actor, token)``."""
    who, token = auth.login(
        session=session, email=user.email, password=PASSWORD, ip_address=ip, user_agent=user_agent
    )
    session.commit()
    return who.actor(ip), token


def fresh_admin(session):
    """A newly signed-in admin (password only, so re-authenticated just now) as an actor."""
    from tests.factories import make_user

    return signed_in(session, make_user(session, role="admin"))[0]


def deliver_emails() -> None:
    """Run the worker on the email queue until it is empty, as ``python -m mlmcrm worker`` does."""
    from workers.main import run_worker

    run_worker(burst=True, queues=["messages"])
