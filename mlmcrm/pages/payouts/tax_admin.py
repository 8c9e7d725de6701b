"""``/admin/tax``: the 1099-NEC year for finance.

For a calendar year: who was paid or bought for resale, each payee's box 1, 2 and 4, who is
ready, exempt, foreign, below the threshold or **missing a tax id** (with the days left to the
January 31 deadline); issue the forms (corrections supersede), download the filing file (full
tax ids: finance only, audited) and each recipient copy for paper mailing. The company's details
as the payer and the IRS's indexed thresholds after 2026 are kept here.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.payouts import tax_1099
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.account import AccountState
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import Column

MANAGE = "payouts.manage"
CLEAR = ("error", "message")
SHOWN = 200
"""The payee list shows this many (largest box 1 first); the counts cover everyone."""

PAYEE_COLUMNS = (
    Column("code", "Distributor"),
    Column("name", "Name"),
    Column("legal_name", "Legal name"),
    Column("tin", "Tax id"),
    Column("box1", "Box 1", numeric=True),
    Column("box2", "Box 2"),
    Column("box4", "Box 4", numeric=True),
    Column("state", "Form"),
    Column("delivery", "Delivery"),
)
FORM_COLUMNS = (
    Column("code", "Distributor"),
    Column("name", "Legal name"),
    Column("box1", "Box 1", numeric=True),
    Column("box4", "Box 4", numeric=True),
    Column("corrected", "Corrected"),
    Column("delivery", "Delivery"),
)
COUNT_COLUMNS = (Column("label", "Form"), Column("people", "Payees", numeric=True))


def _year_number(value: object) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise ValidationFailed("Enter the year as four digits, such as 2026.") from exc


def _year(value: object) -> int:
    year = _year_number(value)
    if not 2000 <= year <= date.today().year:
        raise ValidationFailed(f"Choose a calendar year between 2000 and {date.today().year}.")
    return year


class TaxAdminState(PageOpener, AccountState):
    """The year shown, its payees and forms, and the settings."""

    year: str = ""
    state_filter: str = ""
    threshold: str = ""
    threshold_known: bool = True
    deadline: str = ""
    days_left: int = 0
    missing: int = 0
    counts: list[dict[str, str]] = []
    payees: list[dict[str, str]] = []
    forms: list[dict[str, str]] = []
    payer: dict[str, str] = {}
    can_export: bool = False
    issue_result: str = ""

    def _load(self, *, actor: Actor, session: Session) -> None:
        year = _year(self.year or date.today().year - 1)
        self.year = str(year)
        figure, known = tax_1099.threshold(session=session, year=year)
        reader = self.reader()
        self.threshold, self.threshold_known = reader.money(figure, "USD"), known
        deadline = tax_1099.filing_deadline(year)
        self.deadline = reader.day(deadline)
        self.days_left = (deadline - date.today()).days
        payees = tax_1099.year_payees(session=session, actor=actor, year=year)
        counted = Counter(p.state for p in payees)
        self.missing = counted["missing_tin"]
        self.counts = [
            {"label": label, "people": str(counted[state])}
            for state, label in tax_1099.STATES.items()
        ]
        shown = [p for p in payees if not self.state_filter or p.state == self.state_filter]
        self.payees = [
            {
                "id": str(p.distributor_id),
                "code": p.code,
                "name": p.name,
                "legal_name": p.legal_name,
                "tin": p.tin_masked,
                "box1": reader.number(p.box1),
                "box2": "X" if p.box2 else "",
                "box4": reader.number(p.box4),
                "state": p.state_label,
                "delivery": "electronic" if p.consented else "paper",
            }
            for p in shown[:SHOWN]
        ]
        self.forms = [
            {
                "id": str(f.id),
                "code": f.code,
                "name": f.name,
                "box1": reader.number(f.box1),
                "box4": reader.number(f.box4),
                "corrected": "yes" if f.corrected else "",
                "delivery": "electronic" if f.delivered_at else "paper",
            }
            for f in tax_1099.issued_forms(session=session, actor=actor, year=year)[:SHOWN]
        ]
        payer = tax_1099.get_payer(session=session)
        self.payer = {
            "name": payer.name if payer else "",
            "ein": f"{payer.tin[:2]}-{payer.tin[2:]}" if payer else "",
            "address": "\n".join(payer.address_lines) if payer else "",
            "phone": payer.phone if payer else "",
        }
        self.can_export = permissions.can("sensitive.reveal", actor=actor)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def load(self, *, actor: Actor, session: Session) -> None:
        """Show last year (the one whose forms are due), every payee of it.

        The kind of payee is not kept from an earlier visit: the page's drop-down starts at
        "Every payee", and the list must match it.
        """
        self.issue_result = ""
        self.state_filter = ""
        self._load(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def show(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show another year, or one kind of payee."""
        data = form_data if isinstance(form_data, dict) else {}
        state = str(data.get("state", ""))
        if state and state not in tax_1099.STATES:
            raise ValidationFailed("Choose a kind of payee from the list.")
        self.year = str(_year(data.get("year", self.year)))
        self.state_filter = state
        self.issue_result = ""
        self._load(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def issue(self, *, actor: Actor, session: Session) -> None:
        """Issue (or correct) the year's forms and deliver the electronic copies."""
        result = tax_1099.issue_year(session=session, actor=actor, year=_year(self.year))
        self.issue_result = (
            f"{result.issued} issued, {result.corrected} corrected, {result.voided} voided,"
            f" {result.unchanged} unchanged;"
            f" {result.delivered} delivered electronically, {result.paper} to mail on paper;"
            f" {result.missing_tin} payee(s) still missing a tax id."
        )
        self._load(actor=actor, session=session)

    @rx.event
    @guarded("sensitive.reveal", clear=CLEAR)
    def download_filing(self, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """The year's filing file, with full tax ids (finance only; audited)."""
        data, name = tax_1099.filing_file(session=session, actor=actor, year=_year(self.year))
        return rx.download(data=data, filename=name, mime_type="text/csv")

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def download_copy(self, form_id: str, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """One recipient copy, to mail on paper (audited)."""
        wanted = parse_id(str(form_id))
        if wanted is None:
            raise ValidationFailed("Choose a form from the list.")
        data, name = tax_1099.recipient_copy(session=session, actor=actor, form_id=wanted)
        return rx.download(data=data, filename=name, mime_type="application/pdf")

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def save_payer(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """The company's details as the payer (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        tax_1099.set_payer(
            session=session,
            actor=actor,
            name=str(data.get("name", "")),
            ein=str(data.get("ein", "")),
            address=str(data.get("address", "")),
            phone=str(data.get("phone", "")),
        )
        self.message = "The payer's details are saved."
        self._load(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def save_threshold(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """The IRS's indexed box 1 threshold for a year after 2026 (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        figure = tax_1099.set_threshold(
            session=session,
            actor=actor,
            # A future year: the IRS announces a year's figure before it starts.
            year=_year_number(data.get("threshold_year", "")),
            amount=str(data.get("amount", "")),
        )
        self.message = f"The threshold is {self.reader().money(figure, 'USD')}."
        self._load(actor=actor, session=session)


def _year_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_input(
                "Calendar year", "year", id="tax-year", default_value=TaxAdminState.year
            ),
            rx.el.select(
                rx.el.option("Every payee", value=""),
                *[rx.el.option(label, value=value) for value, label in tax_1099.STATES.items()],
                name="state",
                aria_label="Which payees",
                class_name="touch-target",
            ),
            rx.button("Show", type="submit", class_name="touch-target"),
            align="end",
            wrap="wrap",
        ),
        on_submit=TaxAdminState.show,
        reset_on_submit=False,
        key="year-" + TaxAdminState.year,
    )


def _summary() -> rx.Component:
    return section(
        "Form 1099-NEC for " + TaxAdminState.year,
        rx.text(
            "Box 1 threshold: ",
            TaxAdminState.threshold,
            rx.cond(
                TaxAdminState.threshold_known,
                "",
                " (the latest figure: enter the IRS's figure for this year below)",
            ),
            ". Forms are due to recipients and the IRS by ",
            TaxAdminState.deadline,
            ".",
        ),
        rx.cond(
            TaxAdminState.missing > 0,
            rx.callout(
                TaxAdminState.missing.to_string()
                + " payee(s) have no tax id on file: ask them to certify Form W-9 ("
                + TaxAdminState.days_left.to_string()
                + " days to the deadline). Show them with 'Missing a tax id'.",
                icon="circle-alert",
                color_scheme="amber",
                id="missing-tin",
            ),
        ),
        simple_table(COUNT_COLUMNS, TaxAdminState.counts, table_id="tax-counts"),
        rx.hstack(
            rx.button("Issue the forms", on_click=TaxAdminState.issue, id="issue-forms"),
            rx.cond(
                TaxAdminState.can_export,
                rx.button(
                    "Download the filing file (full tax ids)",
                    on_click=TaxAdminState.download_filing,
                    variant="soft",
                    id="filing-file",
                ),
            ),
            wrap="wrap",
        ),
        rx.cond(TaxAdminState.issue_result != "", rx.text(TaxAdminState.issue_result)),
    )


def _settings() -> rx.Component:
    p = TaxAdminState.payer
    return section(
        "Settings",
        rx.form(
            rx.vstack(
                rx.heading("The company as the payer", size="3"),
                labelled_input("Legal name", "name", id="payer-name", default_value=p["name"]),
                labelled_input("EIN", "ein", id="payer-ein", default_value=p["ein"]),
                rx.el.label("Address (one to four lines)", html_for="payer-address"),
                rx.text_area(name="address", id="payer-address", default_value=p["address"]),
                labelled_input("Phone", "phone", id="payer-phone", default_value=p["phone"]),
                rx.button("Save payer", type="submit", class_name="touch-target"),
                width="100%",
            ),
            on_submit=TaxAdminState.save_payer,
            reset_on_submit=False,
            key="payer-" + p["ein"],
        ),
        rx.form(
            rx.hstack(
                labelled_input("Year (after 2026)", "threshold_year", id="threshold-year"),
                labelled_input("Box 1 threshold ($)", "amount", id="threshold-amount"),
                rx.button("Save threshold", type="submit", class_name="touch-target"),
                align="end",
                wrap="wrap",
            ),
            on_submit=TaxAdminState.save_threshold,
            reset_on_submit=True,
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(TaxAdminState.error),
        notice_message(TaxAdminState.message),
        _year_form(),
        _summary(),
        section(
            "Payees",
            simple_table(
                PAYEE_COLUMNS,
                TaxAdminState.payees,
                row_id="tax-payee",
                empty_text="Nobody was paid or bought for resale in this year.",
                table_id="tax-payees",
            ),
        ),
        section(
            "Forms issued",
            simple_table(
                FORM_COLUMNS,
                TaxAdminState.forms,
                row_id="tax-form",
                actions=lambda row: rx.button(
                    "Copy B (PDF)",
                    size="1",
                    variant="soft",
                    on_click=TaxAdminState.download_copy(row["id"]),
                    class_name="touch-target",
                ),
                actions_label="Recipient copy",
                empty_text="No forms issued for this year yet.",
                table_id="tax-forms",
            ),
        ),
        _settings(),
        spacing="4",
        width="100%",
    )


def tax_admin_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Tax forms", nav=STAFF_NAV)
