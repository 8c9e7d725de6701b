"""Fixtures the page-state tests share with the service tests."""

from tests.services.conftest import smtp  # noqa: F401 - the SMTP sink, for pages that send email
