"""The HTTP API under ``/api``: health, and later webhooks and the ``/api/v1`` REST routes."""

from mlmcrm.api.app import create_api

__all__ = ["create_api"]
