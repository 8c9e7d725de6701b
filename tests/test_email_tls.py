"""Outside development, email never crosses the network in clear."""

import pytest

from mlmcrm.integrations import email as email_adapter
from tests.deployment import deployed_as
from tests.smtp_sink import SmtpSink

MESSAGE = email_adapter.OutgoingEmail(
    to="person@company.test", subject="Reset your password", body="https://crm/reset?t=secret"
)


@pytest.fixture()
def plain_smtp_server():
    """A mail server that does not offer STARTTLS (a misconfigured or downgraded relay)."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_a_server_without_starttls_gets_nothing(monkeypatch, plain_smtp_server, environment):
    with (
        deployed_as(monkeypatch, environment, SMTP_URL=plain_smtp_server.url),
        pytest.raises(email_adapter.EmailNotSent, match="does not offer STARTTLS"),
    ):
        email_adapter.send(MESSAGE)
    assert plain_smtp_server.messages == []


def test_development_may_use_a_local_server_without_tls(monkeypatch, plain_smtp_server):
    with deployed_as(monkeypatch, "development", SMTP_URL=plain_smtp_server.url):
        email_adapter.send(MESSAGE)
    assert [m["To"] for m in plain_smtp_server.messages] == ["person@company.test"]
