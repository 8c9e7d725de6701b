"""The first administrator of a new installation: ``python -m mlmcrm create-admin EMAIL``.

Staging and production start with an empty company (the demo seed runs only in development), so
someone with shell access to the server creates the first admin. The account gets a password
that passes the usual rules and no second factor: like every staff account without 2FA, it can
reach nothing but the enrolment page until it sets one up at its first sign-in.
"""

from __future__ import annotations

from sqlmodel import Session

from mlmcrm.errors import PermissionDenied, ValidationFailed
from mlmcrm.models import User, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts.accounts import _find_user_by_email
from mlmcrm.services.accounts.passwords import hash_password, password_problem
from mlmcrm.services.platform import audit, contact_points, permissions
from mlmcrm.services.platform.actor import Actor


def create_admin(*, session: Session, actor: Actor, email: str, password: str) -> User:
    """Create an active admin account with ``password`` and no 2FA (enrolled at first sign-in).

    Args:
        session: The unit of work; the caller commits.
        actor: The system (the command line); nobody signed in to the app may call this.
        email: The admin's login email; no other account may use it, whatever its case.
        password: The admin's password; the password rules apply.

    Returns:
        The new account.

    Raises:
        PermissionDenied: The actor is not the system.
        ValidationFailed: Not an email, the email is taken, or the password breaks a rule;
            nothing is written.
    """
    if not permissions.can("admins.bootstrap", actor=actor):
        raise PermissionDenied("Only the command line creates an admin this way.")
    email = contact_points.email_address(email)
    if _find_user_by_email(email, session=session) is not None:
        raise ValidationFailed(f"An account with the email {email} already exists.")
    problem = password_problem(password, email=email)
    if problem:
        raise ValidationFailed(problem)
    user = User(
        email=email,
        role="admin",
        status="active",
        password_hash=hash_password(password),
        # The person running the command on the server vouches for the address.
        email_verified_at=utcnow(),
    )
    session.add(user)
    session.flush()
    session.add(UserProfile(user_id=user.id))  # type: ignore[arg-type]  # a stored row has an id
    audit.record(
        session=session,
        actor=actor,
        action="user.created",
        entity_type="user",
        entity_id=user.id,
        after={"email": email, "role": "admin", "status": "active", "two_factor": False},
    )
    return user
