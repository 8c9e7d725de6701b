"""A payee's tax status: the W-9 of US persons, the W-8BEN of others, and consent to e-delivery.

A US person certifies Form W-9: the legal name, the federal tax classification, an SSN or EIN
(checked, encrypted in ``user_profiles.tax_id_enc``, only its last 4 shown) and a US address,
signed under penalties of perjury. Anyone else certifies Form W-8BEN. A new certification
supersedes the last; a W-9 whose legal name differs from the name the identity was verified
against sends the identity back for a new check (:func:`identity.require_again`).

What the payout rules make of it (:mod:`holds`): no current certification holds a payout
(``tax_id`` for US payees, ``tax_form`` for others), unless the company's policy applies backup
withholding to US payees without a tax id (:data:`payout_settings.BACKUP_WITHHOLDING_RATE`).

Corporations (and LLCs taxed as one) are exempt payees: no 1099-NEC is issued for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import Distributor, IdentityCheck, TaxCertification, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import auth, profile
from mlmcrm.services.payouts import identity, payout_settings, tax_forms
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor

TAX_ID_FIELD = profile.SENSITIVE_FIELDS["tax_id"]
DATE_OF_BIRTH_FIELD = profile.SENSITIVE_FIELDS["date_of_birth"]

CLASSIFICATIONS = {
    "individual": "Individual or sole proprietor",
    "c_corporation": "C corporation",
    "s_corporation": "S corporation",
    "partnership": "Partnership",
    "trust_estate": "Trust or estate",
    "llc_c": "LLC taxed as a C corporation",
    "llc_s": "LLC taxed as an S corporation",
    "llc_p": "LLC taxed as a partnership",
}
EXEMPT_CLASSIFICATIONS = frozenset({"c_corporation", "s_corporation", "llc_c", "llc_s"})
"""Exempt payees for Form 1099-NEC: corporations, and LLCs that are taxed as one."""

US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
        "AA",
        "AE",
        "AP",
    ]
)
"""The states, the District of Columbia, the territories and the military post codes."""

W9_PERJURY = (
    "Under penalties of perjury, I certify that: (1) the number shown is my correct taxpayer "
    "identification number; (2) I am not subject to backup withholding because I am exempt, "
    "or I have not been notified by the IRS that I am subject to it, or the IRS has notified "
    "me that I am no longer subject to it; (3) I am a U.S. citizen or other U.S. person; and "
    "(4) any FATCA code entered is correct."
)
W8BEN_PERJURY = (
    "Under penalties of perjury, I declare that I am the individual who is the beneficial owner "
    "of the income to which this form relates, that I am not a U.S. person, and that the "
    "information on this form is true, correct and complete. I agree to certify again within "
    "30 days if any of it becomes incorrect."
)


@dataclass(frozen=True)
class Address:
    """A postal address as typed."""

    street: str
    city: str
    region: str
    postcode: str
    country: str


@dataclass(frozen=True)
class TaxStatus:
    """A payee's tax status for their own page and for finance."""

    form: str
    classification: str
    classification_label: str
    legal_name: str
    business_name: str
    tin_masked: str
    certified_at: datetime | None
    exempt: bool
    edelivery_consent_at: datetime | None
    country: str
    needs: str


def _own(*, actor: Actor) -> int:
    permissions.require("back_office.view", actor=actor)
    if actor.distributor_id is None:
        raise PermissionDenied("Only distributors certify tax forms here.")
    return actor.distributor_id


def current_certification(*, session: Session, distributor_id: int) -> TaxCertification | None:
    """The payee's certification in force, if any."""
    return session.exec(
        select(TaxCertification).where(
            TaxCertification.distributor_id == distributor_id,
            col(TaxCertification.superseded_at).is_(None),
        )
    ).first()


def status_of(*, session: Session, distributor_id: int) -> TaxStatus:
    """The tax status of a payee (no permission check: callers check)."""
    distributor = session.get(Distributor, distributor_id)
    if distributor is None:
        raise NotFound(f"There is no distributor #{distributor_id}.")
    cert = current_certification(session=session, distributor_id=distributor_id)
    person = session.get(UserProfile, distributor.user_id)
    country = payout_settings.payee_country(distributor.country)
    if cert is None:
        needs = (
            "Certify Form W-9 with your SSN or EIN."
            if country == "US"
            else "Certify Form W-8BEN (or Form W-9 if you are a US person)."
        )
    else:
        needs = ""
    return TaxStatus(
        form=cert.form if cert else "",
        classification=cert.classification if cert else "",
        classification_label=CLASSIFICATIONS.get(cert.classification, "") if cert else "",
        legal_name=cert.legal_name if cert else "",
        business_name=cert.business_name if cert else "",
        tin_masked=(
            tax_forms.masked_tin(cert.tin_kind, (cert.tin_last4 or "").strip())
            if cert and cert.tin_kind in ("ssn", "ein")
            else ""
        ),
        certified_at=cert.certified_at if cert else None,
        exempt=bool(cert and cert.form == "W-9" and cert.classification in EXEMPT_CLASSIFICATIONS),
        edelivery_consent_at=person.tax_edelivery_consent_at if person else None,
        country=country,
        needs=needs,
    )


def my_status(*, session: Session, actor: Actor) -> TaxStatus:
    """The actor's own tax status.

    Raises:
        PermissionDenied: Not a distributor.
    """
    return status_of(session=session, distributor_id=_own(actor=actor))


def _text(value: str, what: str, *, required: bool = True, longest: int = 100) -> str:
    cleaned = " ".join((value or "").split())
    if required and len(cleaned) < 2:
        raise ValidationFailed(f"Enter the {what}.")
    if len(cleaned) > longest:
        raise ValidationFailed(f"Keep the {what} under {longest} characters.")
    if any(ord(ch) < 32 for ch in cleaned):
        raise ValidationFailed(f"The {what} contains control characters.")
    return cleaned


def _us_address(address: Address) -> dict[str, str]:
    state = (address.region or "").strip().upper()
    if state not in US_STATES:
        raise ValidationFailed("Enter the state as its two-letter code, such as TX or CA.")
    postcode = re.sub(r"\s", "", address.postcode or "")
    if not re.fullmatch(r"\d{5}(-?\d{4})?", postcode):
        raise ValidationFailed("Enter the ZIP code as 5 digits (or ZIP+4, such as 78701-1234).")
    if len(postcode) == 9:
        postcode = f"{postcode[:5]}-{postcode[5:]}"
    return {
        "street": _text(address.street, "street address"),
        "city": _text(address.city, "city"),
        "region": state,
        "postcode": postcode,
        "country": "US",
    }


def _country(value: str, what: str) -> str:
    code = (value or "").strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValidationFailed(f"Enter the {what} as a two-letter code, such as GB or MX.")
    return code


def _signature(signature: str, legal_name: str, certified: bool) -> str:
    if not certified:
        raise ValidationFailed("Tick the certification to sign the form.")
    signed = _text(signature, "signature (type your full name)")
    if signed.casefold() != legal_name.casefold():
        raise ValidationFailed("Sign by typing your legal name exactly as on line 1.")
    return signed


def _name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def _store(
    *,
    session: Session,
    actor: Actor,
    distributor_id: int,
    cert: TaxCertification,
    tin: str | None,
) -> TaxStatus:
    distributor = session.get(Distributor, distributor_id)
    if distributor is None:
        raise NotFound("Your distributor record is missing.")
    previous = current_certification(session=session, distributor_id=distributor_id)
    if previous is not None:
        previous.superseded_at = utcnow()
        session.add(previous)
        session.flush()
    session.add(cert)
    person = session.get(UserProfile, distributor.user_id) or UserProfile(
        user_id=distributor.user_id
    )
    tin_changed = False
    if tin is not None:
        old = (
            crypto.decrypt_field(person.tax_id_enc, field=TAX_ID_FIELD)
            if person.tax_id_enc
            else None
        )
        tin_changed = old != tin or person.tax_id_kind != cert.tin_kind
        person.tax_id_enc = crypto.encrypt_field(tin, field=TAX_ID_FIELD)
        person.tax_id_last4 = crypto.last4(tin)
        person.tax_id_kind = cert.tin_kind
    elif person.tax_id_enc is not None:
        tin_changed = True
        person.tax_id_enc = None
        person.tax_id_last4 = None
        person.tax_id_kind = None
    session.add(person)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="tax.certified",
        entity_type="distributor",
        entity_id=distributor_id,
        before=({"form": previous.form, "certification_id": previous.id} if previous else None),
        after={
            "form": cert.form,
            "certification_id": cert.id,
            "classification": cert.classification,
            "tin_kind": cert.tin_kind,
            "tax_id": "changed" if tin_changed else "unchanged",
            "legal_name": (
                "changed"
                if previous is None or _name_key(previous.legal_name) != _name_key(cert.legal_name)
                else "unchanged"
            ),
        },
    )
    # The identity is checked against the person's legal name: a check waiting for review
    # follows the new name, and a verified identity is checked again when the name changed.
    name = identity.legal_name_of(session=session, distributor=distributor)
    session.execute(
        text(
            "UPDATE identity_checks SET legal_name = :name"
            " WHERE distributor_id = :d AND status = 'pending'"
        ),
        {"name": name, "d": distributor_id},
    )
    approved = session.exec(
        select(IdentityCheck.legal_name)
        .where(IdentityCheck.distributor_id == distributor_id, IdentityCheck.status == "approved")
        .order_by(col(IdentityCheck.id).desc())
    ).first()
    if approved is not None and _name_key(approved) != _name_key(name):
        identity.require_again(
            session=session, actor=actor, distributor_id=distributor_id, trigger="legal_name"
        )
    return status_of(session=session, distributor_id=distributor_id)


def certify_w9(
    *,
    session: Session,
    actor: Actor,
    classification: str,
    legal_name: str,
    business_name: str,
    tin_kind: str,
    tin: str,
    address: Address,
    signature: str,
    certified: bool,
) -> TaxStatus:
    """Certify Form W-9 for the actor (re-authenticated; audited without the number).

    Raises:
        PermissionDenied: Not a distributor.
        ReauthenticationRequired: Not re-authenticated in the last minutes.
        ValidationFailed: An unknown classification, an SSN for a business, a malformed or
            impossible tax id, a non-US address, or an unsigned form; nothing is changed.
    """
    distributor_id = _own(actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    if classification not in CLASSIFICATIONS:
        raise ValidationFailed("Choose the federal tax classification from the list.")
    name = _text(legal_name, "legal name (line 1, as shown on your income tax return)")
    business = _text(business_name, "business name", required=False)
    if tin_kind not in ("ssn", "ein"):
        raise ValidationFailed("Choose whether the number is an SSN or an EIN.")
    if tin_kind == "ssn" and classification != "individual":
        raise ValidationFailed("A business is identified by its EIN, not an SSN.")
    number = tax_forms.check_tax_id(tin_kind, tin)
    cert = TaxCertification(
        distributor_id=distributor_id,
        form="W-9",
        classification=classification,
        legal_name=name,
        business_name=business,
        tin_kind=tin_kind,
        tin_last4=number[-4:],
        address=_us_address(address),
        country="US",
        signature=_signature(signature, name, certified),
        certified_ip=actor.ip_address,
    )
    return _store(
        session=session, actor=actor, distributor_id=distributor_id, cert=cert, tin=number
    )


def certify_w8ben(
    *,
    session: Session,
    actor: Actor,
    legal_name: str,
    citizenship: str,
    address: Address,
    foreign_tin: str,
    date_of_birth: str,
    signature: str,
    certified: bool,
) -> TaxStatus:
    """Certify Form W-8BEN for the actor, a person outside the US (re-authenticated; audited).

    Raises:
        PermissionDenied: Not a distributor.
        ReauthenticationRequired: Not re-authenticated in the last minutes.
        ValidationFailed: A US address or citizenship (US persons certify a W-9), a malformed
            value, or an unsigned form; nothing is changed.
    """
    distributor_id = _own(actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    name = _text(legal_name, "name of the beneficial owner")
    country = _country(citizenship, "country of citizenship")
    residence = _country(address.country, "country of permanent residence")
    if "US" in (country, residence):
        raise ValidationFailed(
            "US citizens and residents certify Form W-9, not W-8BEN: choose the W-9."
        )
    foreign = re.sub(r"[\s\-./]", "", foreign_tin or "").upper() or None
    if foreign is not None and not re.fullmatch(r"[A-Z0-9]{4,30}", foreign):
        raise ValidationFailed("Enter the foreign tax id with 4 to 30 letters or digits.")
    try:
        born = date.fromisoformat((date_of_birth or "").strip())
    except ValueError as exc:
        raise ValidationFailed("Enter the date of birth as YYYY-MM-DD.") from exc
    if not date(1900, 1, 1) <= born <= date.today():
        raise ValidationFailed("Enter a date of birth between 1900 and today.")
    cert = TaxCertification(
        distributor_id=distributor_id,
        form="W-8BEN",
        classification="individual",
        legal_name=name,
        tin_kind="foreign" if foreign else None,
        tin_last4=crypto.last4(foreign) if foreign else None,
        address={
            "street": _text(address.street, "street address"),
            "city": _text(address.city, "city"),
            "region": _text(address.region, "region", required=False),
            "postcode": _text(address.postcode, "postal code", required=False, longest=20),
            "country": residence,
        },
        country=country,
        signature=_signature(signature, name, certified),
        certified_ip=actor.ip_address,
    )
    distributor = session.get(Distributor, distributor_id)
    if distributor is not None:
        person = session.get(UserProfile, distributor.user_id) or UserProfile(
            user_id=distributor.user_id
        )
        person.date_of_birth_enc = crypto.encrypt_field(born.isoformat(), field=DATE_OF_BIRTH_FIELD)
        session.add(person)
    return _store(
        session=session, actor=actor, distributor_id=distributor_id, cert=cert, tin=foreign
    )


def set_edelivery_consent(*, session: Session, actor: Actor, consent: bool) -> TaxStatus:
    """Record (or withdraw) the actor's consent to receive tax forms electronically (audited).

    Raises:
        PermissionDenied: Not a distributor.
    """
    distributor_id = _own(actor=actor)
    distributor = session.get(Distributor, distributor_id)
    if distributor is None:
        raise NotFound("Your distributor record is missing.")
    person = session.get(UserProfile, distributor.user_id) or UserProfile(
        user_id=distributor.user_id
    )
    before = person.tax_edelivery_consent_at is not None
    person.tax_edelivery_consent_at = utcnow() if consent else None
    session.add(person)
    session.flush()
    if before != consent:
        audit.record(
            session=session,
            actor=actor,
            action="tax.edelivery_consent_given" if consent else "tax.edelivery_consent_withdrawn",
            entity_type="distributor",
            entity_id=distributor_id,
            before={"edelivery": before},
            after={"edelivery": consent},
        )
    return status_of(session=session, distributor_id=distributor_id)
