"""Every service use case that takes an id refuses another owner's record and changes nothing."""

import pytest
from sqlmodel import select

from mlmcrm.errors import NotFound, PermissionDenied
from mlmcrm.models import ApiToken, Contact, Distributor, User, UserProfile, UserSession
from mlmcrm.services.accounts import api_tokens, profile, sessions, user_admin
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user
from tests.services.accounts.test_data_protection import certify_w9
from tests.services.conftest import signed_in


@pytest.fixture()
def victim(owner_session):
    """A distributor with a session, an API token, a contact and a tax id (Form W-9) on file."""
    user = make_user(owner_session)
    actor, _token = signed_in(owner_session, user)
    token, _raw = api_tokens.create_token(
        session=owner_session, actor=actor, name="victim", scopes=["me:read"]
    )
    certify_w9(owner_session, actor, "123-45-6789")
    contact = Contact(owner_id=user.id, first_name="Private")
    owner_session.add(contact)
    owner_session.commit()
    return {
        "user_id": user.id,
        "session_id": actor.session_id,
        "token_id": token.id,
        "contact_id": contact.id,
    }


@pytest.fixture()
def intruder(owner_session):
    user = make_user(owner_session)
    distributor_id = owner_session.exec(
        select(Distributor.id).where(Distributor.user_id == user.id)
    ).one()
    actor, _ = signed_in(owner_session, user)
    return Actor(
        user_id=user.id,
        role="distributor",
        distributor_id=distributor_id,
        session_id=actor.session_id,
    )


ATTEMPTS = {
    "revoke_session": lambda s, a, v: sessions.revoke_session(
        session=s, actor=a, session_id=v["session_id"]
    ),
    "revoke_api_token": lambda s, a, v: api_tokens.revoke_token(
        session=s, actor=a, token_id=v["token_id"]
    ),
    "get_profile": lambda s, a, v: profile.get_profile(session=s, actor=a, user_id=v["user_id"]),
    "reveal_tax_id": lambda s, a, v: profile.reveal_sensitive_field(
        session=s, actor=a, user_id=v["user_id"], field="tax_id", reason="curious"
    ),
    "read_private_notes": lambda s, a, v: profile.read_contact_private_notes(
        session=s, actor=a, contact_id=v["contact_id"], reason="curious"
    ),
    "write_private_notes": lambda s, a, v: profile.set_contact_private_notes(
        session=s, actor=a, contact_id=v["contact_id"], notes="planted"
    ),
    "disable_account": lambda s, a, v: user_admin.set_account_disabled(
        session=s, actor=a, user_id=v["user_id"], disabled=True, reason="x"
    ),
    "change_role": lambda s, a, v: user_admin.change_role(
        session=s, actor=a, user_id=v["user_id"], role="admin", reason="x"
    ),
    "find_person": lambda s, a, v: profile.find_person(session=s, actor=a, email="x@example.com"),
}


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=list(ATTEMPTS))
def test_a_distributor_cannot_touch_another_distributors_records(
    owner_session, victim, intruder, attempt
):
    with pytest.raises((NotFound, PermissionDenied)):
        ATTEMPTS[attempt](owner_session, intruder, victim)
    owner_session.rollback()
    assert owner_session.get(UserSession, victim["session_id"]).revoked_at is None
    assert owner_session.get(ApiToken, victim["token_id"]).revoked_at is None
    user = owner_session.get(User, victim["user_id"])
    assert (user.status, user.role) == ("active", "distributor")
    assert owner_session.get(Contact, victim["contact_id"]).private_notes_enc is None
    assert owner_session.get(UserProfile, victim["user_id"]).tax_id_last4 == "6789"
