from __future__ import annotations

import pytest

from mlmcrm import settings
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio

BACKEND_URL = "https://crm.example.org"


@pytest.fixture()
def twilio(monkeypatch, redis_url, database_url):
    """A local Twilio that the app sends SMS to (the real ``twilio`` library, pointed at it).

    SMS goes out through the worker: call ``deliver_emails()`` after the commit. Messages earlier
    tests left waiting are forgotten, so the worker sends only this test's.
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
    fake = FakeTwilio().start()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TWILIO_FROM_NUMBER", FROM_NUMBER)
    monkeypatch.setenv("TWILIO_API_BASE", fake.url)
    monkeypatch.setenv("BACKEND_URL", BACKEND_URL)
    settings.get_settings.cache_clear()
    try:
        yield fake
    finally:
        fake.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()
