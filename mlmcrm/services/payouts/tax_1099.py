"""Form 1099-NEC for each calendar year: the figures, the forms issued, the filing file, copies.

**Who gets one.** Every payee who is a US person (a certified W-9, or a US address and no form)
and not an exempt payee (corporations, :data:`tax_status.EXEMPT_CLASSIFICATIONS`), when in the
year:

- box 1, the payments made, reaches the year's threshold (:func:`threshold`: $600 for payments
  in 2025 and earlier, $2,000 from 2026; the IRS indexes it from 2027 and finance enters each new
  figure as a setting);
- or box 2 applies: the payee bought $5,000 or more of products for resale (their own paid
  orders, less refunds, before tax);
- or box 4 holds backup withholding (a form is due whatever the amount).

**The figures.** Box 1 is what the payouts sent in the year paid, gross: the amount received
plus the payout fee and the backup withholding kept from it. A payout returned by the bank or
reversed is no payment. A payment's year is the calendar year in the company's time zone
(``company.profile``) of when it was sent.

**Issuing** records each form (:class:`TaxForm1099`); issuing again after a change supersedes
the old form with a corrected one. The recipient copy (a PDF that shows only the last 4 digits
of the tax id) is delivered electronically only to payees who consented
(:func:`tax_status.set_edelivery_consent`); the others are listed for paper mailing. The filing
file holds full tax ids: it is finance's alone, and every export is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models import CompanySetting, Distributor, TaxCertification, TaxForm1099, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.orders import COUNTED_STATUSES
from mlmcrm.services.messaging import outbox
from mlmcrm.services.payouts import tax_forms, tax_status
from mlmcrm.services.payouts.payout_settings import PAYEE_COUNTRY_SQL
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.money import parse_decimal

KNOWN_THRESHOLDS = {2025: Decimal("600.00"), 2026: Decimal("2000.00")}
"""Box 1 thresholds set by law: $600 through 2025; $2,000 for payments from 2026."""
THRESHOLD_SETTING = "tax.nec_thresholds"
"""The IRS's indexed figures for the years after 2026, as finance enters them."""
PAYER_SETTING = "tax.payer"
DIRECT_SALES_FIGURE = Decimal("5000.00")
"""Box 2: purchases of $5,000 or more of consumer products for resale."""
PROFILE_SETTING = "company.profile"


def threshold(*, session: Session, year: int) -> tuple[Decimal, bool]:
    """The box 1 threshold for payments in ``year``, and whether it is the year's own figure.

    For a year after the last known figure, the latest figure is used and ``False`` says that
    finance has not entered the IRS's indexed figure yet.
    """
    known = dict(KNOWN_THRESHOLDS)
    row = session.get(CompanySetting, THRESHOLD_SETTING)
    if row is not None and isinstance(row.value, dict):
        for key, value in row.value.items():
            known[int(key)] = Decimal(str(value))
    if year in known:
        return known[year], True
    if year < min(known):
        return known[min(known)], True
    latest = max(y for y in known if y < year)
    return known[latest], False


def set_threshold(*, session: Session, actor: Actor, year: int, amount: str) -> Decimal:
    """Enter the IRS's indexed box 1 threshold for a year after 2026 (audited).

    Raises:
        PermissionDenied: Not finance.
        ValidationFailed: A year with a figure set by law, or an implausible amount.
    """
    permissions.require("payouts.manage", actor=actor)
    if year <= max(KNOWN_THRESHOLDS) or year > 2100:
        raise ValidationFailed(
            f"The thresholds up to {max(KNOWN_THRESHOLDS)} are set by law; enter a later year."
        )
    figure = parse_decimal(amount, "The threshold")
    if not Decimal("1000") <= figure <= Decimal("10000"):
        raise ValidationFailed("Enter the IRS's figure: between $1,000 and $10,000.")
    row = session.get(CompanySetting, THRESHOLD_SETTING) or CompanySetting(key=THRESHOLD_SETTING)
    values = dict(row.value or {}) if isinstance(row.value, dict) else {}
    before = values.get(str(year))
    values[str(year)] = str(figure)
    row.value = values
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="tax.threshold_set",
        entity_type="company_setting",
        entity_id=THRESHOLD_SETTING,
        before={str(year): before} if before else None,
        after={str(year): str(figure)},
    )
    return figure


def get_payer(*, session: Session) -> tax_forms.Payer | None:
    """The company as the payer on the forms, or None until finance sets it."""
    row = session.get(CompanySetting, PAYER_SETTING)
    if row is None or not isinstance(row.value, dict):
        return None
    value = row.value
    return tax_forms.Payer(
        name=str(value.get("name", "")),
        address_lines=tuple(str(line) for line in value.get("address_lines", [])),
        phone=str(value.get("phone", "")),
        tin=str(value.get("tin", "")),
    )


def set_payer(
    *, session: Session, actor: Actor, name: str, ein: str, address: str, phone: str
) -> tax_forms.Payer:
    """Set the company's name, EIN, address and phone as printed on the forms (audited).

    Raises:
        PermissionDenied: Not finance.
        ValidationFailed: No name or address, or an EIN that is not valid.
    """
    permissions.require("payouts.manage", actor=actor)
    cleaned_name = " ".join((name or "").split())
    if len(cleaned_name) < 2:
        raise ValidationFailed("Enter the company's legal name as the IRS knows it.")
    lines = tuple(" ".join(line.split()) for line in (address or "").splitlines() if line.strip())
    if not 1 <= len(lines) <= 4:
        raise ValidationFailed("Enter the company's address on one to four lines.")
    tin = tax_forms.check_tax_id("ein", ein)
    payer = tax_forms.Payer(
        name=cleaned_name[:100], address_lines=lines, phone=" ".join((phone or "").split()), tin=tin
    )
    row = session.get(CompanySetting, PAYER_SETTING) or CompanySetting(key=PAYER_SETTING)
    row.value = {
        "name": payer.name,
        "address_lines": list(payer.address_lines),
        "phone": payer.phone,
        "tin": payer.tin,
    }
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="tax.payer_changed",
        entity_type="company_setting",
        entity_id=PAYER_SETTING,
        after={"name": payer.name, "ein_last4": payer.tin[-4:]},
    )
    return payer


def _zone(*, session: Session) -> str:
    row = session.get(CompanySetting, PROFILE_SETTING)
    if row is not None and isinstance(row.value, dict) and row.value.get("timezone"):
        return str(row.value["timezone"])
    return "UTC"


_FIGURES = f"""
WITH paid AS (
    SELECT p.distributor_id, sum(p.amount + p.fee + p.withheld) AS box1, sum(p.withheld) AS box4
    FROM payouts p
    WHERE p.status = 'sent'
      AND p.sent_at >= CAST(:start AS timestamp) AT TIME ZONE :zone
      AND p.sent_at < CAST(:stop AS timestamp) AT TIME ZONE :zone
    GROUP BY p.distributor_id
),
bought AS (
    SELECT o.distributor_id, sum(net.purchase) AS purchases
    FROM orders o
    -- A refund is of the total, tax included (its share of the order, as commissions count
    -- it): the same share of the subtotal is what was refunded before tax.
    CROSS JOIN LATERAL (
        SELECT GREATEST(o.subtotal - CASE WHEN o.total > 0
                        THEN round(o.subtotal * o.refunded_total / o.total, 2) ELSE 0 END,
                        0) AS purchase
    ) AS net
    WHERE o.customer_id IS NULL AND o.paid_at IS NOT NULL
      AND o.status = ANY(:counted)
      AND o.paid_at >= CAST(:start AS timestamp) AT TIME ZONE :zone
      AND o.paid_at < CAST(:stop AS timestamp) AT TIME ZONE :zone
    GROUP BY o.distributor_id
    HAVING sum(net.purchase) >= :direct_sales
),
payees AS (
    SELECT distributor_id FROM paid UNION SELECT distributor_id FROM bought
)
SELECT d.id AS distributor_id, d.code, d.user_id,
       concat_ws(' ', pr.first_name, pr.last_name) AS name,
       {PAYEE_COUNTRY_SQL} AS country,
       t.id AS certification_id, t.form, t.classification, t.legal_name, t.business_name,
       t.tin_kind, t.tin_last4, t.address,
       COALESCE(paid.box1, 0) AS box1, COALESCE(paid.box4, 0) AS box4,
       bought.distributor_id IS NOT NULL AS box2,
       pr.tax_edelivery_consent_at IS NOT NULL AS consented
FROM payees
JOIN distributors d ON d.id = payees.distributor_id
LEFT JOIN paid ON paid.distributor_id = d.id
LEFT JOIN bought ON bought.distributor_id = d.id
LEFT JOIN user_profiles pr ON pr.user_id = d.user_id
LEFT JOIN tax_certifications t ON t.distributor_id = d.id AND t.superseded_at IS NULL
"""

STATES = {
    "ready": "Ready: a W-9 is on file",
    "missing_tin": "Missing a tax id: no W-9",
    "exempt": "Exempt payee (a corporation)",
    "foreign": "Foreign payee (W-8BEN): no 1099-NEC",
    "below": "Below the threshold",
}


@dataclass(frozen=True)
class PayeeYear:
    """A payee's figures for a year and what that means for their 1099-NEC."""

    distributor_id: int
    code: str
    name: str
    legal_name: str
    tin_masked: str
    box1: Decimal
    box2: bool
    box4: Decimal
    state: str
    state_label: str
    consented: bool
    certification_id: int | None
    row: dict[str, Any]


def _state(row: dict[str, Any], figure: Decimal) -> str:
    if row["form"] == "W-8BEN" or (row["form"] is None and row["country"] != "US"):
        return "foreign"
    if row["form"] == "W-9" and row["classification"] in tax_status.EXEMPT_CLASSIFICATIONS:
        return "exempt"
    if not (Decimal(row["box1"]) >= figure or row["box2"] or Decimal(row["box4"]) > 0):
        return "below"
    return "ready" if row["form"] == "W-9" else "missing_tin"


def _check_year(year: int) -> None:
    if not 2000 <= year <= date.today().year:
        raise ValidationFailed(f"Choose a calendar year between 2000 and {date.today().year}.")


def year_payees(*, session: Session, actor: Actor, year: int, state: str = "") -> list[PayeeYear]:
    """Every payee with payments or direct sales in ``year``, with their form's state.

    Raises:
        PermissionDenied: Not finance.
        ValidationFailed: A year in the future, or an unknown state.
    """
    permissions.require("payouts.manage", actor=actor)
    _check_year(year)
    if state and state not in STATES:
        raise ValidationFailed("Choose a state from the list.")
    figure, _ = threshold(session=session, year=year)
    rows = session.execute(
        text(_FIGURES + " ORDER BY COALESCE(paid.box1, 0) DESC, d.id"),
        {
            "start": datetime(year, 1, 1),
            "stop": datetime(year + 1, 1, 1),
            "zone": _zone(session=session),
            "direct_sales": DIRECT_SALES_FIGURE,
            "counted": list(COUNTED_STATUSES),
        },
    ).mappings()
    result = []
    for raw in rows:
        row = dict(raw)
        found = _state(row, figure)
        if state and found != state:
            continue
        result.append(
            PayeeYear(
                distributor_id=row["distributor_id"],
                code=row["code"],
                name=row["name"] or "",
                legal_name=row["legal_name"] or "",
                tin_masked=(
                    tax_forms.masked_tin(row["tin_kind"], (row["tin_last4"] or "").strip())
                    if row["tin_kind"] in ("ssn", "ein")
                    else ""
                ),
                box1=Decimal(row["box1"]),
                box2=bool(row["box2"]),
                box4=Decimal(row["box4"]),
                state=found,
                state_label=STATES[found],
                consented=bool(row["consented"]),
                certification_id=row["certification_id"],
                row=row,
            )
        )
    return result


def filing_deadline(year: int) -> date:
    """The day the forms for ``year`` are due to recipients and the IRS.

    January 31 after the year; when that is a Saturday or a Sunday, the next Monday (a form
    due on a weekend is on time the next business day, and no legal holiday falls then).
    """
    due = date(year + 1, 1, 31)
    if due.weekday() >= 5:  # Saturday or Sunday
        due += timedelta(days=7 - due.weekday())
    return due


@dataclass(frozen=True)
class IssueResult:
    """What issuing a year's forms did."""

    issued: int
    corrected: int
    unchanged: int
    delivered: int
    paper: int
    missing_tin: int
    voided: int = 0


def issue_year(*, session: Session, actor: Actor, year: int) -> IssueResult:
    """Issue (or correct) the year's 1099-NEC forms and deliver the copies of consenting payees.

    A form whose figures did not change stays; one that changed is superseded by a corrected
    form, and one no longer due (the payments fell below the threshold, the payee is exempt or
    foreign now) by a corrected form of zeros, which voids it.
    Payees missing a tax id get no form until they certify a W-9; issuing again then
    adds theirs.

    Raises:
        PermissionDenied: Not finance.
        ValidationFailed: The year is not over, or the payer's details are not set.
    """
    permissions.require("payouts.manage", actor=actor)
    if year >= date.today().year:
        raise ValidationFailed(f"{year} is not over: issue its forms from January {year + 1}.")
    if get_payer(session=session) is None:
        raise ValidationFailed("Enter the company's name, EIN and address as the payer first.")
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('tax_forms_1099'))"))
    payees = year_payees(session=session, actor=actor, year=year)
    current = {
        row.distributor_id: row
        for row in session.exec(
            select(TaxForm1099).where(
                TaxForm1099.year == year, col(TaxForm1099.superseded_at).is_(None)
            )
        ).all()
    }
    now = utcnow()
    fresh: list[dict[str, Any]] = []
    superseded: list[int] = []
    told: dict[str, list[int]] = {"Form 1099-NEC": [], "Corrected Form 1099-NEC": []}
    unchanged = 0
    for payee in payees:
        if payee.state != "ready":
            continue
        old = current.get(payee.distributor_id)
        if (
            old is not None
            and old.box1 == payee.box1
            and old.box2 == payee.box2
            and old.box4 == payee.box4
            and old.certification_id == payee.certification_id
        ):
            unchanged += 1
            continue
        if old is not None:
            superseded.append(old.id)  # type: ignore[arg-type]  # a stored row has an id
        fresh.append(
            {
                "distributor_id": payee.distributor_id,
                "year": year,
                "certification_id": payee.certification_id,
                "box1": payee.box1,
                "box2": payee.box2,
                "box4": payee.box4,
                "corrected": old is not None,
                "issued_at": now,
                "issued_by": actor.user_id,
                "delivered_at": now if payee.consented else None,
            }
        )
        if payee.consented:
            told["Corrected Form 1099-NEC" if old is not None else "Form 1099-NEC"].append(
                payee.row["user_id"]
            )
    # A form issued to someone no longer due one (a payment returned below the threshold, an
    # exempt or foreign payee since) is corrected to zero, the IRS's way of voiding it.
    ready = {payee.distributor_id for payee in payees if payee.state == "ready"}
    consenting = {payee.distributor_id for payee in payees if payee.consented}
    voided = 0
    for distributor_id, old in current.items():
        if distributor_id in ready or (old.box1 == 0 and not old.box2 and old.box4 == 0):
            continue
        voided += 1
        superseded.append(old.id)  # type: ignore[arg-type]  # a stored row has an id
        deliver = distributor_id in consenting or (
            distributor_id not in {p.distributor_id for p in payees}
            and old.delivered_at is not None
        )
        fresh.append(
            {
                "distributor_id": distributor_id,
                "year": year,
                "certification_id": old.certification_id,
                "box1": Decimal("0.00"),
                "box2": False,
                "box4": Decimal("0.00"),
                "corrected": True,
                "issued_at": now,
                "issued_by": actor.user_id,
                "delivered_at": now if deliver else None,
            }
        )
        if deliver:
            told["Corrected Form 1099-NEC"].append(
                session.get(Distributor, distributor_id).user_id  # type: ignore[union-attr]  # forms point to distributors
            )
    # Set-based: a company's January run writes tens of thousands of forms in one go.
    if superseded:
        session.execute(
            text("UPDATE tax_forms_1099 SET superseded_at = :now WHERE id = ANY(:ids)"),
            {"now": now, "ids": superseded},
        )
    if fresh:
        session.execute(insert(TaxForm1099), fresh)
    for form_name, user_ids in told.items():
        outbox.notify_many(
            session=session,
            kind="tax.form_available",
            user_ids=user_ids,
            common={"form": form_name, "year": year},
        )
    delivered = sum(len(ids) for ids in told.values())
    issued = sum(1 for row in fresh if not row["corrected"])
    corrected = len(fresh) - issued - voided
    paper = len(fresh) - delivered
    session.flush()
    result = IssueResult(
        issued=issued,
        corrected=corrected,
        unchanged=unchanged,
        delivered=delivered,
        paper=paper,
        missing_tin=sum(1 for p in payees if p.state == "missing_tin"),
        voided=voided,
    )
    audit.record(
        session=session,
        actor=actor,
        action="tax.1099_issued",
        entity_type="tax_year",
        entity_id=year,
        after=result.__dict__,
    )
    return result


@dataclass(frozen=True)
class FormPublic:
    """An issued form as lists show it."""

    id: int
    distributor_id: int
    code: str
    name: str
    year: int
    box1: Decimal
    box2: bool
    box4: Decimal
    corrected: bool
    issued_at: datetime
    delivered_at: datetime | None


def _forms(*, session: Session, year: int | None, distributor_id: int | None) -> list[FormPublic]:
    statement = (
        select(TaxForm1099, Distributor.code, TaxCertification.legal_name)
        .join(Distributor, col(Distributor.id) == col(TaxForm1099.distributor_id))
        .join(TaxCertification, col(TaxCertification.id) == col(TaxForm1099.certification_id))
        .where(col(TaxForm1099.superseded_at).is_(None))
        .order_by(col(TaxForm1099.year).desc(), col(TaxForm1099.box1).desc())
    )
    if year is not None:
        statement = statement.where(TaxForm1099.year == year)
    if distributor_id is not None:
        statement = statement.where(TaxForm1099.distributor_id == distributor_id)
    return [
        FormPublic(
            id=form.id,  # type: ignore[arg-type]  # a stored row has an id
            distributor_id=form.distributor_id,
            code=code,
            name=legal_name,
            year=form.year,
            box1=form.box1,
            box2=form.box2,
            box4=form.box4,
            corrected=form.corrected,
            issued_at=form.issued_at,
            delivered_at=form.delivered_at,
        )
        for form, code, legal_name in session.exec(statement).all()
    ]


def issued_forms(*, session: Session, actor: Actor, year: int) -> list[FormPublic]:
    """The year's forms in force, largest first.

    Raises:
        PermissionDenied: Not finance.
    """
    permissions.require("payouts.manage", actor=actor)
    return _forms(session=session, year=year, distributor_id=None)


def my_forms(*, session: Session, actor: Actor) -> list[FormPublic]:
    """The actor's forms that were delivered to them electronically.

    Raises:
        PermissionDenied: Not a distributor.
    """
    permissions.require("back_office.view", actor=actor)
    if actor.distributor_id is None:
        return []
    return [
        form
        for form in _forms(session=session, year=None, distributor_id=actor.distributor_id)
        if form.delivered_at is not None
    ]


def recipient_copy(*, session: Session, actor: Actor, form_id: int) -> tuple[bytes, str]:
    """The PDF recipient copy of a form and its file name.

    The payee gets it only when it was delivered electronically (they consented); finance gets
    any, to mail on paper (audited).

    Raises:
        NotFound: No such form, or not one the actor may have.
    """
    form = session.get(TaxForm1099, form_id)
    if form is None or form.superseded_at is not None:
        raise NotFound("That tax form does not exist.")
    own = actor.distributor_id is not None and actor.distributor_id == form.distributor_id
    if own:
        permissions.require("back_office.view", actor=actor)
        if form.delivered_at is None:
            raise NotFound(
                "This form is sent on paper: you did not consent to receive tax forms "
                "electronically when it was issued."
            )
    else:
        if not permissions.can("payouts.manage", actor=actor):
            raise NotFound("That tax form does not exist.")
        audit.record(
            session=session,
            actor=actor,
            action="tax.1099_copy_downloaded",
            entity_type="distributor",
            entity_id=form.distributor_id,
            after={"form_id": form.id, "year": form.year},
        )
    payer = get_payer(session=session)
    cert = session.get(TaxCertification, form.certification_id)
    distributor = session.get(Distributor, form.distributor_id)
    if payer is None or cert is None or distributor is None:
        raise NotFound("The payer's details or the payee's certification are missing.")
    address = cert.address or {}
    copy = tax_forms.NecRecipientCopy(
        year=form.year,
        payer=payer,
        recipient_name=cert.legal_name,
        business_name=cert.business_name,
        address_lines=(
            str(address.get("street", "")),
            " ".join(
                part
                for part in (
                    f"{address.get('city', '')},",
                    str(address.get("region", "")),
                    str(address.get("postcode", "")),
                )
                if part.strip(", ")
            ),
        ),
        tin_kind=cert.tin_kind or "ssn",
        tin_last4=(cert.tin_last4 or "").strip(),
        account_number=distributor.code,
        box1=form.box1,
        box2=form.box2,
        box4=form.box4,
        corrected=form.corrected,
    )
    return tax_forms.recipient_copy_pdf(copy), f"1099-NEC-{form.year}-{distributor.code}.pdf"


def filing_file(*, session: Session, actor: Actor, year: int) -> tuple[str, str]:
    """The CSV of the year's forms with the full tax ids, for filing; finance only, audited.

    Raises:
        PermissionDenied: Not finance (the file holds full tax ids).
        ValidationFailed: No payer details, or no forms issued for the year.
    """
    permissions.require("sensitive.reveal", actor=actor)
    payer = get_payer(session=session)
    if payer is None:
        raise ValidationFailed("Enter the company's name, EIN and address as the payer first.")
    forms = session.exec(
        select(TaxForm1099, TaxCertification, Distributor, UserProfile)
        .join(TaxCertification, col(TaxCertification.id) == col(TaxForm1099.certification_id))
        .join(Distributor, col(Distributor.id) == col(TaxForm1099.distributor_id))
        .join(UserProfile, col(UserProfile.user_id) == col(Distributor.user_id))
        .where(TaxForm1099.year == year, col(TaxForm1099.superseded_at).is_(None))
        .order_by(col(TaxForm1099.id))
    ).all()
    if not forms:
        raise ValidationFailed(f"No forms are issued for {year} yet: issue them first.")
    rows = []
    for form, cert, distributor, person in forms:
        if person.tax_id_enc is None:
            raise ValidationFailed(
                f"The tax id of {distributor.code} is no longer on file: ask them to certify "
                "their W-9 again, then issue the year again."
            )
        address = cert.address or {}
        rows.append(
            tax_forms.NecFilingRow(
                recipient_tin_kind=cert.tin_kind or "ssn",
                recipient_tin=crypto.decrypt_field(
                    person.tax_id_enc, field=tax_status.TAX_ID_FIELD
                ),
                recipient_name=cert.legal_name,
                business_name=cert.business_name,
                street=str(address.get("street", "")),
                city=str(address.get("city", "")),
                state=str(address.get("region", "")),
                zip_code=str(address.get("postcode", "")),
                country="US",
                account_number=distributor.code,
                box1=form.box1,
                box2=form.box2,
                box4=form.box4,
            )
        )
    audit.record(
        session=session,
        actor=actor,
        action="tax.1099_filing_exported",
        entity_type="tax_year",
        entity_id=year,
        after={"forms": len(rows)},
        reason="1099-NEC filing file (holds full tax ids)",
    )
    return tax_forms.filing_csv(year, payer, rows), f"1099-NEC-{year}-filing.csv"
