"""``/admin/enrol``: support or an admin enrols a distributor on someone's behalf.

The same rules and placement choices as ``/join``; the applicant gets the confirmation link by
email, chooses their password and accepts the agreement there, and is placed then. Audited,
with a reason. An admin may choose the slot instead of the automatic rule; the genealogy screen
opens this page with the sponsor, the person to place under and the slot filled in
(``?sponsor=…&parent=…&slot=…``).
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.accounts import accounts, user_admin
from mlmcrm.services.network import genealogy
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id

ASSIST = "accounts.assist"


class EnrolState(PageOpener, AuthState):
    """The enrolment form."""

    error: str = ""
    message: str = ""
    can_place: bool = False
    slot_options: list[list[str]] = []
    sponsor: str = ""
    parent: str = ""
    slot: str = ""

    def _query(self, name: str) -> str:
        value = self.router.url.query_parameters.get(name, "")
        return value.strip()[:40] if isinstance(value, str) else ""

    @rx.event
    @guarded(ASSIST, clear=("error", "message"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """The form, filled in from the genealogy screen's link when it came from there."""
        self.can_place = permissions.can("genealogy.manage", actor=actor)
        settings = genealogy.get_settings(session=session)
        self.slot_options = (
            [["1", "Left"], ["2", "Right"]]
            if settings.placement_tree == "binary"
            else [[str(n), f"Position {n}"] for n in range(1, settings.width + 1)]
        )
        self.sponsor, self.parent = self._query("sponsor"), self._query("parent")
        self.slot = self._query("slot") if self.can_place else ""

    @rx.event
    def set_slot(self, value: str) -> None:
        """Keep the slot chosen in the list (only a listed slot is kept)."""
        wanted = value if isinstance(value, str) else ""
        self.slot = wanted if any(wanted == option[0] for option in self.slot_options) else ""

    @rx.event
    @guarded(ASSIST, clear=("error", "message"))
    def submit(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Record the application and email the applicant their confirmation link."""
        data = form_data if isinstance(form_data, dict) else {}
        application = accounts.Application(
            email=str(data.get("email", "")),
            password="",
            first_name=str(data.get("first_name", "")),
            last_name=str(data.get("last_name", "")),
            phone=str(data.get("phone", "")),
            country=str(data.get("country", "")),
            placement_preference=str(data.get("placement_preference", "auto") or "auto"),
        )
        slot = parse_id(str(data.get("slot", "") or ""))
        if str(data.get("slot", "") or "").strip() and slot is None:
            raise ValidationFailed("Choose a slot from the list.")
        user_admin.enrol_for(
            session=session,
            actor=actor,
            sponsor_code=str(data.get("sponsor_code", "")),
            application=application,
            reason=str(data.get("reason", "")),
            placement_code=str(data.get("placement_code", "") or ""),
            slot=slot,
        )
        self.message = (
            f"Application recorded. {application.email.strip()} gets a link to choose a "
            "password and accept the agreement (it works for 48 hours); they are placed then."
        )


def _slot_choice() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Admins may choose the slot (leave both empty for the placement preference):",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.hstack(
            rx.vstack(
                rx.el.label("Place under (distributor code)", html_for="placement-code"),
                rx.input(
                    id="placement-code",
                    name="placement_code",
                    default_value=EnrolState.parent,
                    key=EnrolState.parent,
                    width="100%",
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.el.label("Slot", html_for="slot"),
                rx.el.select(
                    rx.el.option("Automatic", value=""),
                    rx.foreach(
                        EnrolState.slot_options,
                        lambda option: rx.el.option(option[1], value=option[0]),
                    ),
                    id="slot",
                    name="slot",
                    value=EnrolState.slot,
                    on_change=EnrolState.set_slot,
                    style={"padding": "0.5rem"},
                    class_name="touch-target",
                ),
                spacing="1",
            ),
            wrap="wrap",
            width="100%",
        ),
        width="100%",
    )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.vstack(
                rx.el.label(
                    "Sponsor's distributor code",
                    html_for="sponsor-code",
                    style={"fontSize": "var(--font-size-2)", "fontWeight": "500"},
                ),
                rx.input(
                    id="sponsor-code",
                    name="sponsor_code",
                    default_value=EnrolState.sponsor,
                    key=EnrolState.sponsor,
                    required=True,
                    width="100%",
                ),
                spacing="1",
                width="100%",
            ),
            rx.hstack(
                labelled_input("First name", "first_name", required=True),
                labelled_input("Last name", "last_name", required=True),
                width="100%",
                wrap="wrap",
            ),
            labelled_input("Email", "email", type="email", required=True),
            rx.hstack(
                labelled_input("Phone (optional)", "phone", type="tel"),
                labelled_input("Country code", "country", placeholder="US"),
                width="100%",
                wrap="wrap",
            ),
            rx.vstack(
                rx.el.label(
                    "Placement preference",
                    html_for="placement-preference",
                    style={"fontSize": "var(--font-size-2)", "fontWeight": "500"},
                ),
                rx.el.select(
                    rx.el.option("Automatic (the sponsor decides)", value="auto"),
                    rx.el.option("Left leg", value="left"),
                    rx.el.option("Right leg", value="right"),
                    id="placement-preference",
                    name="placement_preference",
                    default_value="auto",
                    style={"padding": "0.5rem", "width": "100%"},
                    class_name="touch-target",
                ),
                spacing="1",
                width="100%",
            ),
            rx.cond(EnrolState.can_place, _slot_choice()),
            labelled_input(
                "Reason (for the audit log)", "reason", id="enrol-reason", required=True
            ),
            rx.button("Enrol", type="submit", class_name="touch-target"),
            spacing="3",
            width="100%",
        ),
        on_submit=EnrolState.submit,
        reset_on_submit=True,
    )


def enrol_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            error_message(EnrolState.error),
            notice_message(EnrolState.message),
            section("Enrol a distributor on their behalf", _form()),
            spacing="4",
            width="100%",
            max_width="40rem",
        ),
        title="Enrol a distributor",
        nav=STAFF_NAV,
    )
