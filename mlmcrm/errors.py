"""Errors a person can cause, with messages a person understands."""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be carried out; ``str(error)`` is shown to the user as it is.

    Pages show it in place, the API returns it as 4xx JSON, the CLI prints it and exits 2.
    """

    status_code = 400


class NotFound(DomainError):
    """The record does not exist, or the actor may not know that it does."""

    status_code = 404


NO_ACCESS = "You do not have access to this."
"""What a person is told when their role does not allow what they asked (pages and services)."""


class PermissionDenied(DomainError):
    """The actor's role does not allow this."""

    status_code = 403


class AuthenticationFailed(DomainError):
    """Login failed; one message for every reason, so nothing is revealed."""

    status_code = 401


class ReauthenticationRequired(DomainError):
    """A sensitive change needs the password (and 2FA code) entered again within a few minutes."""

    status_code = 401


class ValidationFailed(DomainError):
    """Input that breaks a rule (a weak password, a malformed email); nothing was changed."""

    status_code = 422


class TooManyRequests(DomainError):
    """One client or one address asked too often; nothing was done, try again later."""

    status_code = 429
