"""The Stripe adapter: a ``stripe.StripeClient`` built from the settings.

``STRIPE_SECRET_KEY`` turns payments on; ``STRIPE_API_BASE`` points the library at another
server that speaks Stripe's API (the tests start one). Without a key, every payment action says
that payments are not set up, and nothing is written.
"""

from __future__ import annotations

import stripe

from mlmcrm.errors import DomainError
from mlmcrm.settings import get_settings


class PaymentsNotConfigured(DomainError):
    """Payments are off because no Stripe key is configured."""

    status_code = 503


class PaymentFailed(DomainError):
    """Stripe refused or could not be reached; the message says why, nothing was changed."""

    status_code = 502


def client() -> stripe.StripeClient:
    """A Stripe client for the configured account.

    Raises:
        PaymentsNotConfigured: ``STRIPE_SECRET_KEY`` is not set.
    """
    settings = get_settings()
    if not settings.stripe_secret_key:
        raise PaymentsNotConfigured(
            "Payments are not set up yet: the company has to set STRIPE_SECRET_KEY and "
            "STRIPE_WEBHOOK_SECRET before the shop can take payments."
        )
    base = settings.stripe_api_base.rstrip("/")
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


def webhook_secret() -> str:
    """The webhook signing secret.

    Raises:
        PaymentsNotConfigured: ``STRIPE_WEBHOOK_SECRET`` is not set.
    """
    secret = get_settings().stripe_webhook_secret
    if not secret:
        raise PaymentsNotConfigured("Stripe webhooks are not set up (STRIPE_WEBHOOK_SECRET).")
    return secret


def failure_message(error: stripe.StripeError) -> str:
    """What to tell a person about a Stripe error."""
    if isinstance(error, stripe.CardError):
        return f"The card was declined: {error.user_message or error.code or 'no reason given'}."
    if isinstance(error, stripe.APIConnectionError):
        return "The payment service could not be reached; try again in a minute."
    return f"The payment service refused the request: {error.user_message or str(error)}"
