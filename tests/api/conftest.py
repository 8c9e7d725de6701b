"""Fixtures the API tests share with the service tests."""

from tests.services.conftest import smtp  # noqa: F401 - the SMTP sink, for routes that send email
