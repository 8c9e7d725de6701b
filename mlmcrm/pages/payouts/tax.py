"""``/tax``: a distributor's identity verification, tax form (W-9 or W-8BEN) and 1099-NEC copies.

Payouts wait until the identity is verified and a tax form is certified (the wallet says so); this
page is where the person settles both. The document goes to the compliance team's queue (or, when
the company uses one, to the hosted identity provider). Certifying a tax form needs a fresh
re-authentication, like every change of payout details.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.errors import ValidationFailed
from mlmcrm.models.tax import DOCUMENT_TYPES
from mlmcrm.services.payouts import identity, tax_1099, tax_status
from mlmcrm.services.platform.actor import Actor
from mlmcrm.settings import get_settings
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded, unit_of_work
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column

OWN = "back_office.view"
UPLOAD_ID = "identity-document"
FORM_COLUMNS = (
    Column("year", "Year"),
    Column("form", "Form"),
    Column("box1", "Box 1", numeric=True),
    Column("box4", "Box 4 withheld", numeric=True),
)


class TaxState(PageOpener, AccountState):
    """The identity and tax page."""

    verified: bool = False
    verified_at: str = ""
    recheck: str = ""
    check_status: str = ""
    check_reason: str = ""
    check_submitted: str = ""
    check_document: str = ""
    provider_available: bool = False
    document_type: str = "passport"
    tax: dict[str, str] = {}
    consented: bool = False
    form_choice: str = "W-9"
    forms: list[dict[str, str]] = []

    def _load(self, *, actor: Actor, session: Session) -> None:
        shown = identity.my_status(session=session, actor=actor)
        self.verified = shown.verified
        self.verified_at = self.reader().day(shown.verified_at) if shown.verified_at else ""
        self.recheck = shown.recheck
        latest = shown.latest
        self.check_status = latest.status_label if latest else ""
        self.check_reason = latest.reason if latest and latest.status == "rejected" else ""
        self.check_submitted = self.reader().day(latest.submitted_at) if latest else ""
        self.check_document = latest.document_label if latest else ""
        self.provider_available = shown.provider_available
        status = tax_status.my_status(session=session, actor=actor)
        self.tax = {
            "form": status.form,
            "classification": status.classification_label,
            "legal_name": status.legal_name,
            "business_name": status.business_name,
            "tin": status.tin_masked,
            "certified_at": self.reader().day(status.certified_at) if status.certified_at else "",
            "exempt": "yes" if status.exempt else "",
            "needs": status.needs,
            "country": status.country,
        }
        if not status.form:
            self.form_choice = "W-9" if status.country == "US" else "W-8BEN"
        self.consented = status.edelivery_consent_at is not None
        reader = self.reader()
        self.forms = [
            {
                "id": str(form.id),
                "year": str(form.year),
                "form": "1099-NEC (corrected)" if form.corrected else "1099-NEC",
                "box1": reader.number(form.box1),
                "box4": reader.number(form.box4),
            }
            for form in tax_1099.my_forms(session=session, actor=actor)
        ]

    @rx.event
    @account_handler(OWN)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Read the person's identity and tax status."""
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler(OWN)
    def choose_document_type(self, value: str, *, actor: Actor, session: Session) -> None:
        """Choose the kind of identity document about to be uploaded."""
        if value not in DOCUMENT_TYPES:
            raise ValidationFailed("Choose the kind of document from the list.")
        self.document_type = value

    @rx.event
    @account_handler(OWN)
    def choose_form(self, value: str, *, actor: Actor, session: Session) -> None:
        """Show the W-9 or the W-8BEN form."""
        if value not in ("W-9", "W-8BEN"):
            raise ValidationFailed("Choose Form W-9 or Form W-8BEN.")
        self.form_choice = value

    @rx.event
    @guarded(OWN, clear=("error", "message"), unit_of_work=False)
    async def upload_document(self, files: list[rx.UploadFile], *, actor: Actor) -> None:
        """Send the identity document for review (one file)."""
        if len(files) != 1:
            raise ValidationFailed("Choose one file: the photo or scan of your document.")
        upload = files[0]
        data = await upload.read(identity.MAX_DOCUMENT_BYTES + 1)
        with unit_of_work(actor) as session:
            identity.submit_document(
                session=session,
                actor=actor,
                document_type=self.document_type,
                file_name=upload.name or "",
                data=data,
            )
            self._load(actor=actor, session=session)
        self.message = (
            "Thank you: your document is with our compliance team. We will tell you when it "
            "is reviewed."
        )

    @rx.event
    @account_handler(OWN)
    def start_provider(self, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """Go to the identity provider's page; it sends the person back here."""
        base = get_settings().app_url.rstrip("/")
        link = identity.start_provider_check(
            session=session, actor=actor, redirect_url=f"{base}{routes.DISTRIBUTOR_TAX}"
        )
        return rx.redirect(link, is_external=True)

    def _address(self, data: dict) -> tax_status.Address:
        return tax_status.Address(
            street=str(data.get("street", "")),
            city=str(data.get("city", "")),
            region=str(data.get("region", "")),
            postcode=str(data.get("postcode", "")),
            country=str(data.get("residence", "US")),
        )

    @rx.event
    @account_handler(OWN)
    def certify_w9(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Certify Form W-9 (needs re-authentication)."""
        data = form_data if isinstance(form_data, dict) else {}
        tax_status.certify_w9(
            session=session,
            actor=actor,
            classification=str(data.get("classification", "")),
            legal_name=str(data.get("legal_name", "")),
            business_name=str(data.get("business_name", "")),
            tin_kind=str(data.get("tin_kind", "")),
            tin=str(data.get("tin", "")),
            address=self._address(data),
            signature=str(data.get("signature", "")),
            certified=data.get("certified") in ("on", True, "true"),
        )
        self.message = "Form W-9 is certified."
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler(OWN)
    def certify_w8ben(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Certify Form W-8BEN (needs re-authentication)."""
        data = form_data if isinstance(form_data, dict) else {}
        tax_status.certify_w8ben(
            session=session,
            actor=actor,
            legal_name=str(data.get("legal_name", "")),
            citizenship=str(data.get("citizenship", "")),
            address=self._address(data),
            foreign_tin=str(data.get("foreign_tin", "")),
            date_of_birth=str(data.get("date_of_birth", "")),
            signature=str(data.get("signature", "")),
            certified=data.get("certified") in ("on", True, "true"),
        )
        self.message = "Form W-8BEN is certified."
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler(OWN)
    def set_consent(self, checked: bool, *, actor: Actor, session: Session) -> None:
        """Receive tax forms electronically (or on paper again)."""
        tax_status.set_edelivery_consent(session=session, actor=actor, consent=checked is True)
        self.message = (
            "You will receive your tax forms here, electronically."
            if checked is True
            else "You will receive your tax forms on paper, by mail."
        )
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler(OWN)
    def download_form(
        self, form_id: str, *, actor: Actor, session: Session
    ) -> rx.event.EventSpec | None:
        """Download the recipient copy of one of the person's forms."""
        wanted = parse_id(str(form_id))
        if wanted is None:
            raise ValidationFailed("Choose a form from the list.")
        data, name = tax_1099.recipient_copy(session=session, actor=actor, form_id=wanted)
        return rx.download(data=data, filename=name, mime_type="application/pdf")


def _identity() -> rx.Component:
    return section(
        "Identity",
        rx.cond(
            TaxState.verified,
            rx.callout(
                "Your identity is verified (" + TaxState.verified_at + ").",
                icon="check",
                color_scheme="green",
                id="identity-status",
            ),
            rx.vstack(
                rx.cond(
                    TaxState.recheck != "",
                    rx.callout(
                        TaxState.recheck + ": please verify your identity again.",
                        icon="circle-alert",
                        color_scheme="amber",
                    ),
                ),
                rx.cond(
                    TaxState.check_status != "",
                    rx.text(
                        "Your ",
                        TaxState.check_document.lower(),
                        " sent on ",
                        TaxState.check_submitted,
                        ": ",
                        rx.text.strong(TaxState.check_status),
                        rx.cond(TaxState.check_reason != "", ". " + TaxState.check_reason, ""),
                        id="identity-status",
                    ),
                    rx.text(
                        "We need to verify your identity before your first payout.",
                        id="identity-status",
                    ),
                ),
                rx.cond(
                    TaxState.provider_available,
                    rx.button(
                        "Verify with our identity partner",
                        on_click=TaxState.start_provider,
                        class_name="touch-target",
                    ),
                ),
                rx.text(
                    "Upload a photo or scan of a passport, driving licence, identity card or "
                    "residence permit (JPEG, PNG, WebP or PDF, up to 10 MB). Only our compliance "
                    "team sees it; it is stored encrypted.",
                    size="2",
                ),
                rx.el.label("Document", html_for="document-type"),
                rx.el.select(
                    *[
                        rx.el.option(label, value=value)
                        for value, label in identity.DOCUMENT_LABELS.items()
                    ],
                    id="document-type",
                    value=TaxState.document_type,
                    on_change=TaxState.choose_document_type,
                    class_name="touch-target",
                ),
                rx.upload(
                    rx.text("Drop the file here, or click to choose it"),
                    id=UPLOAD_ID,
                    accept={
                        "image/jpeg": [".jpg", ".jpeg"],
                        "image/png": [".png"],
                        "image/webp": [".webp"],
                        "application/pdf": [".pdf"],
                    },
                    max_files=1,
                    border="1px dashed var(--gray-7)",
                    padding="1rem",
                    width="100%",
                ),
                rx.button(
                    "Send the document",
                    on_click=TaxState.upload_document(rx.upload_files(upload_id=UPLOAD_ID)),
                    id="send-document",
                    class_name="touch-target",
                ),
                width="100%",
            ),
        ),
    )


def _address_fields(us: bool) -> list[rx.Component]:
    fields = [
        labelled_input("Street address", "street", required=True, auto_complete="street-address"),
        labelled_input("City", "city", required=True),
        labelled_input("State (2 letters)" if us else "Region", "region", required=us, id="region"),
        labelled_input("ZIP code" if us else "Postal code", "postcode", required=us),
    ]
    if not us:
        fields.append(
            labelled_input("Country of permanent residence (2 letters)", "residence", required=True)
        )
    return fields


def _sign(words: str) -> list[rx.Component]:
    return [
        rx.text(words, size="1"),
        rx.el.label(
            rx.el.input(type="checkbox", name="certified", id="certified"),
            " I certify the above under penalties of perjury",
            class_name="touch-target",
        ),
        labelled_input("Signature: type your legal name", "signature", required=True),
    ]


def _w9() -> rx.Component:
    return rx.form(
        rx.vstack(
            labelled_input(
                "Legal name (as on your income tax return)", "legal_name", required=True
            ),
            labelled_input("Business name, if different", "business_name"),
            rx.el.label("Federal tax classification", html_for="classification"),
            rx.el.select(
                *[
                    rx.el.option(label, value=value)
                    for value, label in tax_status.CLASSIFICATIONS.items()
                ],
                name="classification",
                id="classification",
                class_name="touch-target",
            ),
            rx.el.label("Taxpayer identification number", html_for="tin-kind"),
            rx.el.select(
                rx.el.option("Social security number (SSN)", value="ssn"),
                rx.el.option("Employer identification number (EIN)", value="ein"),
                name="tin_kind",
                id="tin-kind",
                class_name="touch-target",
            ),
            labelled_input("SSN or EIN (9 digits)", "tin", required=True, id="tin"),
            *_address_fields(True),
            *_sign(tax_status.W9_PERJURY),
            rx.button("Certify Form W-9", type="submit", class_name="touch-target"),
            width="100%",
        ),
        on_submit=TaxState.certify_w9,
        reset_on_submit=False,
        id="w9-form",
    )


def _w8ben() -> rx.Component:
    return rx.form(
        rx.vstack(
            labelled_input("Name of the beneficial owner", "legal_name", required=True),
            labelled_input("Country of citizenship (2 letters)", "citizenship", required=True),
            *_address_fields(False),
            labelled_input("Foreign tax id (optional)", "foreign_tin"),
            labelled_input("Date of birth (YYYY-MM-DD)", "date_of_birth", required=True),
            *_sign(tax_status.W8BEN_PERJURY),
            rx.button("Certify Form W-8BEN", type="submit", class_name="touch-target"),
            width="100%",
        ),
        on_submit=TaxState.certify_w8ben,
        reset_on_submit=False,
        id="w8ben-form",
    )


def _tax() -> rx.Component:
    t = TaxState.tax
    return section(
        "Tax form",
        rx.cond(
            t["form"] != "",
            rx.vstack(
                rx.text(
                    rx.text.strong("Form " + t["form"]),
                    " certified on ",
                    t["certified_at"],
                    " for ",
                    t["legal_name"],
                    rx.cond(t["tin"] != "", ", tax id " + t["tin"], ""),
                    rx.cond(t["classification"] != "", " (" + t["classification"] + ")", ""),
                    ".",
                    id="tax-status",
                ),
                rx.cond(
                    t["exempt"] != "",
                    rx.text("As a corporation you are an exempt payee: no 1099-NEC is issued."),
                ),
                rx.text("To change it, certify a new form below.", size="2"),
                width="100%",
            ),
            rx.callout(t["needs"], icon="circle-alert", color_scheme="amber", id="tax-status"),
        ),
        rx.el.label("Form", html_for="form-choice"),
        rx.el.select(
            rx.el.option("Form W-9 (US persons)", value="W-9"),
            rx.el.option("Form W-8BEN (everyone else)", value="W-8BEN"),
            id="form-choice",
            value=TaxState.form_choice,
            on_change=TaxState.choose_form,
            class_name="touch-target",
        ),
        rx.cond(TaxState.form_choice == "W-9", _w9(), _w8ben()),
    )


def _documents() -> rx.Component:
    return section(
        "Tax documents",
        rx.el.label(
            rx.el.input(
                type="checkbox",
                checked=TaxState.consented,
                on_change=TaxState.set_consent,
                id="edelivery",
            ),
            " I agree to receive my tax forms (1099-NEC) electronically on this page instead of"
            " on paper. I can withdraw this consent here at any time.",
            class_name="touch-target",
        ),
        simple_table(
            FORM_COLUMNS,
            TaxState.forms,
            row_id="tax-form",
            actions=lambda row: rx.button(
                "Download",
                size="1",
                variant="soft",
                on_click=TaxState.download_form(row["id"]),
                class_name="touch-target",
            ),
            actions_label="Copy",
            empty_text="No tax forms yet: a 1099-NEC is issued in January for the year before.",
            table_id="tax-forms",
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(TaxState.error),
        notice_message(TaxState.message),
        _identity(),
        _tax(),
        _documents(),
        spacing="4",
        width="100%",
        max_width="56rem",
    )


def tax_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Identity and tax", nav=DISTRIBUTOR_NAV)
