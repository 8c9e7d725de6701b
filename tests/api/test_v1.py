import pytest
from fastapi.testclient import TestClient

from mlmcrm.api import create_api
from mlmcrm.models import Contact
from mlmcrm.services.platform import crypto
from tests.factories import make_api_token, make_user


@pytest.fixture()
def client(database_url):
    return TestClient(create_api())


def _token(session, user, scopes):
    return make_api_token(session, user, scopes)


def _auth(raw):
    return {"Authorization": f"Bearer {raw}"}


def test_me_needs_a_valid_token(client, owner_session):
    user = make_user(owner_session)
    _public, raw = _token(owner_session, user, ["me:read"])
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers=_auth("mlm_wrong")).status_code == 401
    response = client.get("/api/v1/me", headers=_auth(raw))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == user.id and body["email"] == user.email
    assert body["role"] == "distributor" and body["scopes"] == ["me:read"]


def test_a_token_without_the_scope_is_refused(client, owner_session):
    user = make_user(owner_session)
    _public, raw = _token(owner_session, user, ["contacts:read"])
    response = client.get("/api/v1/me", headers=_auth(raw))
    assert response.status_code == 403 and "me:read" in response.json()["error"]


def test_contacts_by_id_are_served_only_to_their_owner_and_crm_staff(client, owner_session):
    owner, stranger = make_user(owner_session), make_user(owner_session)
    support, finance = (
        make_user(owner_session, role="support"),
        make_user(owner_session, role="finance"),
    )
    contact = Contact(
        owner_id=owner.id,
        first_name="Ada",
        private_notes_enc=crypto.encrypt_field("secret", field="contacts.private_notes"),
    )
    owner_session.add(contact)
    owner_session.commit()
    url = f"/api/v1/contacts/{contact.id}"
    for user, status in ((owner, 200), (stranger, 404), (support, 200), (finance, 404)):
        _public, raw = _token(owner_session, user, ["contacts:read"])
        reason = "?reason=Ticket 881: duplicate" if user.role == "support" else ""
        response = client.get(url + reason, headers=_auth(raw))
        assert response.status_code == status, user.role
        if status == 200:
            assert response.json()["first_name"] == "Ada"
            assert "private_notes" not in response.text
        else:
            assert response.json() == {"error": "That contact does not exist."}
    _public, raw = _token(owner_session, stranger, ["contacts:read"])
    missing = client.get("/api/v1/contacts/999999999", headers=_auth(raw))
    assert missing.status_code == 404 and missing.json() == response.json()


def test_tokens_are_listed_and_revoked_only_by_their_owner(client, owner_session):
    mine, theirs = make_user(owner_session), make_user(owner_session)
    my_public, my_raw = _token(owner_session, mine, ["me:read", "tokens:manage"])
    their_public, their_raw = _token(owner_session, theirs, ["me:read"])
    listed = client.get("/api/v1/tokens", headers=_auth(my_raw)).json()
    assert [t["id"] for t in listed] == [my_public.id]
    assert "token_hash" not in str(listed)
    refused = client.delete(f"/api/v1/tokens/{their_public.id}", headers=_auth(my_raw))
    assert refused.status_code == 404
    assert client.get("/api/v1/me", headers=_auth(their_raw)).status_code == 200
    assert client.delete(f"/api/v1/tokens/{my_public.id}", headers=_auth(my_raw)).status_code == 204
    assert client.get("/api/v1/me", headers=_auth(my_raw)).status_code == 401
