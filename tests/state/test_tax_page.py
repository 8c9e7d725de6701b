"""``/tax`` as a browser calls it: a distributor's identity document, tax form, consent to
e-delivery and their 1099-NEC copies. Nobody else reaches any of it through this page.

Forms and payouts read every row of the database, so these tests run on a company of their own
(a fresh database per test, see ``tests/services/payouts/conftest.py``).
"""

from __future__ import annotations

import base64
import io
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import reflex as rx
from PIL import Image
from sqlalchemy import text

from mlmcrm import routes
from mlmcrm.errors import NO_ACCESS
from mlmcrm.models import User
from mlmcrm.pages.payouts.tax import TaxState
from mlmcrm.services.payouts import tax_1099, tax_status
from mlmcrm.services.platform.actor import Actor
from tests.factories import make_user, read_in
from tests.handlers import HandlerCall, HandlerClient, nothing_changes, unchanged
from tests.services.conftest import signed_in
from tests.services.payouts.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
)

PAGE = routes.DISTRIBUTOR_TAX
LAST_YEAR = date.today().year - 1
TIN = "401-23-4567"
PAYER = {
    "name": "Acme Wellness Inc",
    "ein": "12-3456789",
    "address": "100 Congress Avenue\nAustin, TX 78701",
    "phone": "+1 512 555 0100",
}
TAX_TABLES = (
    "tax_certifications",
    "user_profiles",
    "identity_checks",
    "tax_forms_1099",
    "audit_logs",
)


def jpeg(width: int = 600, height: int = 400, seed: int = 7) -> bytes:
    """A photo of noise: a JPEG large enough to be read as a document."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


def upload(data: bytes, name: str) -> rx.UploadFile:
    """A file as the browser uploads it."""
    return rx.UploadFile(file=io.BytesIO(data), path=Path(name), size=len(data))


def downloaded(call: HandlerCall) -> tuple[str, str, bytes]:
    """The file name, content type and bytes of the download the handler asked for."""
    (spec,) = call.events
    args = {str(name): value._var_value for name, value in spec.args}  # type: ignore[attr-defined]  # a LiteralVar holds its value
    head, _, body = args["url"].partition(",")
    assert head.startswith("data:") and head.endswith(";base64"), head
    return args["filename"], head[len("data:") : -len(";base64")], base64.b64decode(body)


def user_of(owner, company, letter: str) -> User:  # noqa: F811 - plain arguments
    """The user account of distributor ``letter`` of the company."""
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar()
    return owner.get(User, user_id)


def tab(owner, company, letter: str, path: str = PAGE) -> HandlerClient:  # noqa: F811
    """A tab of distributor ``letter``, signed in."""
    return HandlerClient.sign_in(owner, user_of(owner, company, letter), path=path)


def name_of(owner, company, letter: str) -> str:  # noqa: F811 - plain arguments
    """The person's name on file (what their W-9's legal name must say here)."""
    return owner.execute(
        text(
            "SELECT concat_ws(' ', p.first_name, p.last_name) FROM distributors d"
            " JOIN user_profiles p ON p.user_id = d.user_id WHERE d.id = :d"
        ),
        {"d": company.people[letter]},
    ).scalar()


def w9_form(name: str, **changes: str) -> dict[str, str]:
    """The W-9 form as the page submits it."""
    return {
        "classification": "individual",
        "legal_name": name,
        "business_name": "",
        "tin_kind": "ssn",
        "tin": TIN,
        "street": "100 Congress Avenue",
        "city": "Austin",
        "region": "TX",
        "postcode": "78701",
        "signature": name,
        "certified": "on",
        **changes,
    }


def distributor_actor(owner, company, letter: str) -> Actor:  # noqa: F811 - plain arguments
    """Distributor ``letter`` signed in just now (re-authenticated)."""
    return signed_in(owner, user_of(owner, company, letter))[0]


def certify(owner, company, letter: str, tin: str = TIN, consent: bool = False) -> None:  # noqa: F811
    """Distributor ``letter`` certifies a W-9 (and consents to e-delivery) through the services."""
    actor = distributor_actor(owner, company, letter)
    name = name_of(owner, company, letter)
    tax_status.certify_w9(
        session=owner,
        actor=actor,
        classification="individual",
        legal_name=name,
        business_name="",
        tin_kind="ssn",
        tin=tin,
        address=tax_status.Address("1 Main St", "Austin", "TX", "78701", "US"),
        signature=name,
        certified=True,
    )
    if consent:
        tax_status.set_edelivery_consent(session=owner, actor=actor, consent=True)
    owner.commit()


def paid(owner, company, letter: str, amount: str, year: int = LAST_YEAR) -> None:  # noqa: F811
    """A payout of ``amount`` sent to distributor ``letter`` in ``year`` (its own batch)."""
    batch = owner.execute(
        text(
            "INSERT INTO payout_batches (status, period_ids, currency, created_by, executed_at)"
            " VALUES ('executed', '{}', 'USD', :u, :at) RETURNING id"
        ),
        {"u": company.admin_id, "at": datetime(year, 6, 15, tzinfo=UTC)},
    ).scalar()
    owner.execute(
        text(
            "INSERT INTO payouts (batch_id, distributor_id, amount, currency, method, status,"
            " sent_at) VALUES (:b, :d, :a, 'USD', 'stripe', 'sent', :at)"
        ),
        {
            "b": batch,
            "d": company.people[letter],
            "a": amount,
            "at": datetime(year, 6, 15, tzinfo=UTC),
        },
    )
    owner.commit()


def issue_last_year(owner, company) -> dict[str, int]:  # noqa: F811 - plain arguments
    """Set the payer and issue last year's forms as the admin; the form ids by letter."""
    if tax_1099.get_payer(session=owner) is None:
        tax_1099.set_payer(session=owner, actor=company.admin, **PAYER)
    tax_1099.issue_year(session=owner, actor=company.admin, year=LAST_YEAR)
    owner.commit()
    rows = owner.execute(
        text(
            "SELECT distributor_id, id FROM tax_forms_1099 WHERE year = :y"
            " AND superseded_at IS NULL"
        ),
        {"y": LAST_YEAR},
    )
    by_id = {row.distributor_id: row.id for row in rows}
    return {letter: by_id[who] for letter, who in company.people.items() if who in by_id}


def test_a_us_distributor_is_asked_for_a_w9_and_certifies_it(owner, company):  # noqa: F811
    anna = tab(owner, company, "A")
    shown = anna.call(TaxState.load).state
    assert shown.error == "" and shown.verified is False and shown.check_status == ""
    assert shown.tax["form"] == "" and shown.tax["needs"].startswith("Certify Form W-9")
    assert shown.form_choice == "W-9" and shown.forms == [] and shown.consented is False
    assert shown.provider_available is False

    name = name_of(owner, company, "A")
    with nothing_changes(owner):
        for form, message in (
            (w9_form(name, tin="401-23-456"), "An SSN has 9 digits"),
            (w9_form(name, tin="000-12-3456"), "That number is not a valid SSN"),
            ({**w9_form(name), "certified": ""}, "Tick the certification to sign the form."),
            (
                w9_form(name, signature="Somebody Else"),
                "Sign by typing your legal name exactly as on line 1.",
            ),
            (w9_form(name, region="XX"), "two-letter code"),
            (w9_form(name, classification="pirate"), "federal tax classification"),
            (w9_form(name, classification="c_corporation"), "identified by its EIN"),
            ("not a form", "Choose the federal tax classification"),
        ):
            refused = anna.call(TaxState.certify_w9, form_data=form)
            assert message in refused.state.error, (form, refused.state.error)
            assert refused.state.message == "" and refused.events == []
            assert refused.state.tax["form"] == ""

    done = anna.call(TaxState.certify_w9, form_data=w9_form(name)).state
    assert done.error == "" and done.message == "Form W-9 is certified."
    assert done.tax["form"] == "W-9" and done.tax["tin"] == "***-**-4567"
    assert done.tax["legal_name"] == name and done.tax["needs"] == ""
    assert done.tax["classification"] == "Individual or sole proprietor"
    stored = owner.execute(
        text(
            "SELECT p.tax_id_last4, p.tax_id_enc FROM user_profiles p"
            " JOIN distributors d ON d.user_id = p.user_id WHERE d.id = :d"
        ),
        {"d": company.people["A"]},
    ).one()
    assert stored.tax_id_last4 == "4567" and "401234567" not in stored.tax_id_enc
    assert "401234567" not in repr(done.dict()), "the page never holds the full number"


def test_certifying_needs_a_fresh_password(owner, company):  # noqa: F811
    anna = tab(owner, company, "A")
    owner.execute(
        text(
            "UPDATE user_sessions SET reauthenticated_at = now() - interval '1 hour'"
            " WHERE user_id = :u"
        ),
        {"u": user_of(owner, company, "A").id},
    )
    owner.commit()
    with nothing_changes(owner):
        stale = anna.call(TaxState.certify_w9, form_data=w9_form(name_of(owner, company, "A")))
    assert stale.redirect == routes.with_next(routes.REAUTHENTICATE, PAGE)
    assert stale.state.message == ""


def test_a_distributor_outside_the_us_is_offered_the_w8ben(owner, company):  # noqa: F811
    owner.execute(
        text("UPDATE distributors SET country = 'GB' WHERE id = :d"), {"d": company.people["B"]}
    )
    owner.commit()
    ben = tab(owner, company, "B")
    shown = ben.call(TaxState.load).state
    assert shown.form_choice == "W-8BEN" and shown.tax["country"] == "GB"
    assert shown.tax["needs"].startswith("Certify Form W-8BEN")
    with nothing_changes(owner):
        us = ben.call(
            TaxState.certify_w8ben,
            form_data={
                "legal_name": "Ben Brown",
                "citizenship": "US",
                "street": "1 High Street",
                "city": "London",
                "residence": "GB",
                "date_of_birth": "1980-02-03",
                "signature": "Ben Brown",
                "certified": "on",
            },
        ).state
    assert "US citizens and residents certify Form W-9" in us.error
    done = ben.call(
        TaxState.certify_w8ben,
        form_data={
            "legal_name": "Ben Brown",
            "citizenship": "GB",
            "street": "1 High Street",
            "city": "London",
            "postcode": "SW1A 1AA",
            "residence": "GB",
            "date_of_birth": "1980-02-03",
            "signature": "Ben Brown",
            "certified": "on",
        },
    ).state
    assert done.error == "" and done.message == "Form W-8BEN is certified."
    assert done.tax["form"] == "W-8BEN" and done.tax["tin"] == ""
    chosen = ben.call(TaxState.choose_form, value="W-9").state
    assert chosen.error == "" and chosen.form_choice == "W-9"


def test_junk_choices_are_refused(owner, company):  # noqa: F811
    anna = tab(owner, company, "A")
    anna.call(TaxState.load)
    with nothing_changes(owner):
        for value in ("selfie", "", "PASSPORT", "passport'--", ["passport"]):
            kind = anna.call(TaxState.choose_document_type, value=value).state
            assert kind.error == "Choose the kind of document from the list."
            assert kind.document_type == "passport"
        for value in ("W-8", "w-9", "", "1099-NEC", {"form": "W-9"}):
            form = anna.call(TaxState.choose_form, value=value).state
            assert form.error == "Choose Form W-9 or Form W-8BEN."
            assert form.form_choice == "W-9"
    chosen = anna.call(TaxState.choose_document_type, value="national_id").state
    assert chosen.error == "" and chosen.document_type == "national_id"


def test_the_identity_document_is_checked_before_it_is_stored(owner, company):  # noqa: F811
    anna = tab(owner, company, "A")
    anna.call(TaxState.load)
    photo = jpeg()
    with nothing_changes(owner):
        for files, message in (
            (
                [upload(b"This is my passport, honestly.\n" * 200, "passport.jpg")],
                "not a JPEG, PNG, WebP image or a PDF",
            ),
            (
                [upload(photo, "front.jpg"), upload(photo, "back.jpg")],
                "Choose one file: the photo or scan of your document.",
            ),
            ([], "Choose one file: the photo or scan of your document."),
            ([upload(photo, "passport.png")], "holds a JPEG image"),
            ([upload(b"\xff\xd8\xff\xe0" + b"\x00" * 4096, "passport.jpg")], "damaged"),
            ([upload(jpeg(200, 150), "passport.jpg")], "too small to read"),
            ([upload(b"", "passport.jpg")], "The file is empty"),
        ):
            refused = anna.call(TaxState.upload_document, files=files).state
            assert message in refused.error, (message, refused.error)
            assert refused.message == "" and refused.check_status == ""

    sent = anna.call(TaxState.upload_document, files=[upload(photo, "passport.jpg")]).state
    assert sent.error == ""
    assert sent.message == (
        "Thank you: your document is with our compliance team. We will tell you when it is "
        "reviewed."
    )
    assert sent.check_status == "Waiting for review" and sent.check_document == "Passport"
    row = owner.execute(
        text(
            "SELECT status, method, document_type, content_type, size_bytes, legal_name"
            " FROM identity_checks WHERE distributor_id = :d"
        ),
        {"d": company.people["A"]},
    ).one()
    assert tuple(row) == (
        "pending",
        "document",
        "passport",
        "image/jpeg",
        len(photo),
        name_of(owner, company, "A"),
    )


def test_consent_to_electronic_forms_is_recorded_both_ways(owner, company):  # noqa: F811
    anna = tab(owner, company, "A")

    def consented() -> bool:
        owner.commit()
        return owner.execute(
            text(
                "SELECT p.tax_edelivery_consent_at IS NOT NULL FROM user_profiles p"
                " JOIN distributors d ON d.user_id = p.user_id WHERE d.id = :d"
            ),
            {"d": company.people["A"]},
        ).scalar()

    given = anna.call(TaxState.set_consent, checked=True).state
    assert given.error == "" and given.consented is True and consented()
    assert given.message == "You will receive your tax forms here, electronically."
    for junk in ("yes", 1, None):  # only an explicit True is consent
        assert anna.call(TaxState.set_consent, checked=junk).state.consented is False
        assert not consented()
    anna.call(TaxState.set_consent, checked=True)
    withdrawn = anna.call(TaxState.set_consent, checked=False).state
    assert withdrawn.consented is False and not consented()
    assert withdrawn.message == "You will receive your tax forms on paper, by mail."
    actions = owner.execute(
        text("SELECT action FROM audit_logs WHERE action LIKE 'tax.edelivery%' ORDER BY id")
    ).scalars()
    assert list(actions) == [
        "tax.edelivery_consent_given",
        "tax.edelivery_consent_withdrawn",
        "tax.edelivery_consent_given",
        "tax.edelivery_consent_withdrawn",
    ]


def test_a_distributor_downloads_their_own_delivered_form_only(owner, company):  # noqa: F811
    certify(owner, company, "A", consent=True)
    certify(owner, company, "E", tin="401-23-4568")
    paid(owner, company, "A", "2500.00")
    paid(owner, company, "E", "3000.00")
    forms = issue_last_year(owner, company)

    read_in(owner, user_of(owner, company, "A"))  # the boxes as a German reader writes them
    anna = tab(owner, company, "A")
    shown = anna.call(TaxState.load).state
    assert shown.consented is True
    assert shown.forms == [
        {
            "id": str(forms["A"]),
            "year": str(LAST_YEAR),
            "form": "1099-NEC",
            "box1": "2.500,00",
            "box4": "0,00",
        }
    ]
    name, content_type, data = downloaded(anna.call(TaxState.download_form, form_id=forms["A"]))
    assert content_type == "application/pdf" and data.startswith(b"%PDF-")
    code = owner.execute(
        text("SELECT code FROM distributors WHERE id = :d"), {"d": company.people["A"]}
    ).scalar()
    assert name == f"1099-NEC-{LAST_YEAR}-{code}.pdf"

    with unchanged(owner, *TAX_TABLES):
        for form_id, message in (
            (forms["E"], "That tax form does not exist."),
            ("987654321", "That tax form does not exist."),
            ("abc", "Choose a form from the list."),
            ("-1", "Choose a form from the list."),
            ("99999999999999999999", "Choose a form from the list."),
            ("", "Choose a form from the list."),
        ):
            refused = anna.call(TaxState.download_form, form_id=form_id)
            assert refused.state.error == message, form_id
            assert refused.events == []

    jane = tab(owner, company, "E")
    assert jane.call(TaxState.load).state.forms == [], "a paper form is not shown"
    with unchanged(owner, *TAX_TABLES):
        paper = jane.call(TaxState.download_form, form_id=str(forms["E"]))
    assert paper.state.error.startswith("This form is sent on paper") and paper.events == []


@pytest.mark.parametrize("role", ["finance", "compliance", "admin", None])
def test_staff_and_visitors_are_refused_and_nothing_changes(owner, company, role):  # noqa: F811
    certify(owner, company, "A", consent=True)
    paid(owner, company, "A", "2500.00")
    form_id = issue_last_year(owner, company)["A"]
    if role is None:
        visitor = HandlerClient("", path=PAGE)
    else:
        visitor = HandlerClient.sign_in(owner, make_user(owner, role=role), path=PAGE)
    name = name_of(owner, company, "A")
    w8ben = {
        "legal_name": name,
        "citizenship": "GB",
        "street": "1 High Street",
        "city": "London",
        "residence": "GB",
        "date_of_birth": "1980-02-03",
        "signature": name,
        "certified": "on",
    }
    calls = (
        (TaxState.load, {}),
        (TaxState.choose_document_type, {"value": "national_id"}),
        (TaxState.choose_form, {"value": "W-8BEN"}),
        (TaxState.upload_document, {"files": [upload(jpeg(), "passport.jpg")]}),
        (TaxState.start_provider, {}),
        (TaxState.certify_w9, {"form_data": w9_form(name)}),
        (TaxState.certify_w8ben, {"form_data": w8ben}),
        (TaxState.set_consent, {"checked": False}),
        (TaxState.download_form, {"form_id": str(form_id)}),
    )
    with nothing_changes(owner):
        opened = visitor.call(TaxState.open_route, route=PAGE)
    wanted = routes.login_url(PAGE) if role is None else routes.FORBIDDEN
    assert opened.redirect == wanted and opened.state.error == "", role
    tried = {handler.fn.__name__ for handler, _ in calls} | {"open_route"}
    assert tried == set(TaxState.event_handlers) - {"setvar"}, "every handler of the page is tried"
    with nothing_changes(owner):
        for handler, payload in calls:
            call = visitor.call(handler, **payload)
            assert call.state.error == NO_ACCESS, (role, handler)
            assert call.state.message == "", (role, handler)
            # Only a redirect to the login page, never a file or another page.
            assert all(spec.handler.fn.__qualname__ == "_redirect" for spec in call.events)
            assert call.redirect is None or call.redirect.startswith(routes.LOGIN)
    shown = visitor.state(TaxState)
    assert shown.tax == {} and shown.forms == [] and shown.check_status == ""
    assert shown.document_type == "passport" and shown.form_choice == "W-9"
