"""Fixtures the page-state tests share with the service tests."""

import mlmcrm.mlmcrm  # noqa: F401 - adds every page, so each page state knows what opening it runs
from tests.services.conftest import smtp  # noqa: F401 - the SMTP sink, for pages that send email
