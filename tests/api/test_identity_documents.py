"""``GET /api/identity/documents/<id>`` as an attacker calls it: without a session, with a
distributor's (even the document's owner's), with a staff session that never answered 2FA, with
junk ids. Only a reviewer gets the document, never cached, and every opening is audited.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.api import create_api
from mlmcrm.services.payouts import identity
from mlmcrm.session_cookie import cookie_name
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes
from tests.services.conftest import signed_in
from tests.state.test_tax_page import jpeg


@pytest.fixture()
def client(database_url):
    return TestClient(create_api(), client=("198.51.100.77", 50000))


def _cookie(token: str) -> dict[str, str]:
    return {"cookie": f"{cookie_name()}={token}"}


def _pdf() -> bytes:
    """A plain one-page PDF (no scripts or actions), large enough to be a scan."""
    filler = b"".join(b"%% scanned page, line %03d\n" % line for line in range(120))
    return (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
        + filler
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _submitted(session, data: bytes, file_name: str):
    """A distributor who sent ``data`` for review: their user, session token and check."""
    user = make_user(session)
    actor, token = signed_in(session, user)
    check = identity.submit_document(
        session=session,
        actor=actor,
        document_type="passport",
        file_name=file_name,
        data=data,
    )
    session.commit()
    return user, token, check


def _viewed(session, check_id: int) -> list:
    session.commit()
    return list(
        session.execute(
            text(
                "SELECT actor_id, entity_id FROM audit_logs"
                " WHERE action = 'identity.document_viewed'"
                " AND CAST(after ->> 'check_id' AS bigint) = :c"
            ),
            {"c": check_id},
        )
    )


def _url(check_id: object) -> str:
    return f"{routes.API_IDENTITY_DOCUMENT}/{check_id}"


def test_a_reviewer_gets_the_exact_document_uncached_and_audited(client, owner_session):
    photo = jpeg(seed=11)
    user, _token, check = _submitted(owner_session, photo, "passport.jpg")
    reviewer = make_user(owner_session, role="compliance")
    token = HandlerClient.sign_in(owner_session, reviewer).session_token
    response = client.get(_url(check.id), headers=_cookie(token))
    assert response.status_code == 200, response.text
    assert response.content == photo
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        f'inline; filename="identity-{check.id}.jpg"'
    )
    assert _viewed(owner_session, check.id) == [(reviewer.id, str(check.distributor_id))]

    admin = make_user(owner_session, role="admin")
    again = client.get(
        _url(check.id), headers=_cookie(HandlerClient.sign_in(owner_session, admin).session_token)
    )
    assert again.status_code == 200 and again.content == photo
    assert len(_viewed(owner_session, check.id)) == 2, "every opening is audited"
    assert user.email not in again.headers["content-disposition"]


def test_a_pdf_is_downloaded_rather_than_shown(client, owner_session):
    data = _pdf()
    _user, _token, check = _submitted(owner_session, data, "permit.pdf")
    reviewer = make_user(owner_session, role="compliance")
    token = HandlerClient.sign_in(owner_session, reviewer).session_token
    response = client.get(_url(check.id), headers=_cookie(token))
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="identity-{check.id}.pdf"'
    )


@pytest.mark.parametrize("token", [None, "", "forged-token", "x" * 500])
def test_without_a_session_nothing_is_served(client, owner_session, token):
    _user, _own_token, check = _submitted(owner_session, jpeg(seed=12), "passport.jpg")
    with nothing_changes(owner_session):
        response = client.get(_url(check.id), headers=_cookie(token) if token is not None else {})
    assert response.status_code == 401
    assert response.json() == {"error": "Sign in to review identity documents."}
    assert response.headers.get("content-type") == "application/json"


def test_a_staff_session_that_never_answered_2fa_is_refused(client, owner_session):
    _user, _own_token, check = _submitted(owner_session, jpeg(seed=13), "passport.jpg")
    _actor, token = signed_in(owner_session, make_user(owner_session, role="compliance"))
    with nothing_changes(owner_session):
        response = client.get(_url(check.id), headers=_cookie(token))
    assert response.status_code == 401
    assert _viewed(owner_session, check.id) == []


@pytest.mark.parametrize("who", ["owner", "distributor", "finance", "support"])
def test_anyone_but_a_reviewer_is_forbidden(client, owner_session, who):
    _user, own_token, check = _submitted(owner_session, jpeg(seed=14), "passport.jpg")
    if who == "owner":
        token = own_token  # the person whose document it is does not get it back
    else:
        token = HandlerClient.sign_in(
            owner_session, make_user(owner_session, role=who)
        ).session_token
    with nothing_changes(owner_session):
        response = client.get(_url(check.id), headers=_cookie(token))
        unknown = client.get(_url(987654321), headers=_cookie(token))
        junk = client.get(_url("99999999999999999999"), headers=_cookie(token))
    assert response.status_code == 403 and unknown.status_code == 403, "existence is not told"
    assert junk.status_code == 403
    assert response.json() == {"error": "You do not have access to this."}
    assert b"\xff\xd8\xff" not in response.content


@pytest.mark.parametrize("check_id", ["987654321", "0", "-5", "abc", "1.5", "99999999999999999999"])
def test_an_unknown_or_malformed_id_is_not_found(client, owner_session, check_id):
    reviewer = make_user(owner_session, role="compliance")
    token = HandlerClient.sign_in(owner_session, reviewer).session_token
    with nothing_changes(owner_session):
        response = client.get(_url(check_id), headers=_cookie(token))
    assert response.status_code == 404, response.text
    assert response.json() == {"error": "That identity check does not exist."}


def test_a_check_made_at_the_provider_has_no_document(client, owner_session):
    user = make_user(owner_session)
    check_id = owner_session.execute(
        text(
            "INSERT INTO identity_checks (distributor_id, method, legal_name, inquiry_id)"
            " SELECT id, 'provider', 'Test Person', :inquiry FROM distributors WHERE user_id = :u"
            " RETURNING id"
        ),
        {"u": user.id, "inquiry": f"inq_{user.id}"},
    ).scalar()
    owner_session.commit()
    token = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="compliance")
    ).session_token
    with nothing_changes(owner_session):
        response = client.get(_url(check_id), headers=_cookie(token))
    assert response.status_code == 404
    assert response.json() == {"error": "This check has no document: it was made at the provider."}


def test_the_route_answers_get_only(client, owner_session):
    _user, _own_token, check = _submitted(owner_session, jpeg(seed=15), "passport.jpg")
    token = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="compliance")
    ).session_token
    with nothing_changes(owner_session):
        for method in ("POST", "PUT", "DELETE"):
            response = client.request(method, _url(check.id), headers=_cookie(token))
            assert response.status_code == 405, method
