"""``/account``: the user's own details and sign-in settings.

A distributor also sees the last 4 of their tax id, with links to where payout details are kept:
the Identity and tax page (the tax id, set by certifying Form W-9 or W-8BEN) and the wallet (the
bank account payouts go to).

Everyone has the "Your data" card: download a copy of everything held about them (JSON), ask for
their account to be erased (the law and its deadline are shown), and follow their requests. Both
need the password again (the re-authentication page, then back here).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import app_shell
from mlmcrm.errors import ValidationFailed
from mlmcrm.services.accounts import accounts, photos, profile
from mlmcrm.services.compliance import privacy
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.reader import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    LOCALES,
    Reader,
    time_zones,
)
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import guarded, unit_of_work
from mlmcrm.state.paged_list import Column

EXAMPLE_AMOUNT = Decimal("1234.50")
"""The amount the profile shows to let the person see how their locale writes amounts."""
PHOTO_UPLOAD = "profile-photo-upload"

PRIVACY_COLUMNS = (
    Column("kind", "Request"),
    Column("requested_at", "Asked"),
    Column("regime", "Law"),
    Column("deadline", "Deadline"),
    Column("status", "Status"),
    Column("note", "Why"),
)


class ProfileState(PageOpener, AccountState):
    """The profile page."""

    email: str = ""
    phone: str = ""
    name: str = ""
    tax_id_last4: str = ""
    date_of_birth_on_file: bool = False
    payouts_card: bool = False
    keeps_crm: bool = False
    privacy_requests: list[dict[str, str]] = []
    erasure_waiting: bool = False
    default_regime: str = ""
    timezone: str = DEFAULT_TIMEZONE
    locale: str = DEFAULT_LOCALE
    reading_chosen: bool = False
    reading_example: str = ""
    photo_url: str = ""

    def _load_privacy(self, *, actor: Actor, session: Session) -> None:
        mine = privacy.my_requests(session=session, actor=actor)
        self.privacy_requests = [
            {
                "id": str(item.id),
                "kind": item.kind_label,
                "requested_at": self.reader().day(item.requested_at),
                "regime": item.regime_name,
                "deadline": (
                    self.reader().day(item.deadline)
                    if item.waiting or item.completed_at is None
                    else "answered " + self.reader().day(item.completed_at)
                ),
                "status": item.status_label,
                "note": item.note or item.extension_reason,
            }
            for item in mine
        ]
        self.erasure_waiting = any(item.kind == "erasure" and item.waiting for item in mine)
        regime = privacy.regime_for(session=session, user_id=actor.user_id)  # type: ignore[arg-type]  # a signed-in actor has a user id
        self.default_regime = privacy.REGIME_LABELS[regime]

    def _load(self, *, actor: Actor, session: Session) -> None:
        shown = profile.get_profile(session=session, actor=actor, user_id=actor.user_id)  # type: ignore[arg-type]  # a signed-in actor has a user id
        self.email, self.phone = shown.email, shown.phone
        self.name = f"{shown.first_name} {shown.last_name}".strip()
        self.tax_id_last4 = shown.tax_id_last4
        self.date_of_birth_on_file = shown.date_of_birth_on_file
        self.payouts_card = actor.distributor_id is not None and permissions.can(
            "back_office.view", actor=actor
        )
        self.keeps_crm = actor.distributor_id is not None
        self.timezone, self.locale = shown.timezone, shown.locale
        self.reading_chosen, self.photo_url = shown.reading_chosen, shown.photo_url
        self._show_reading(Reader.of(shown.timezone, shown.locale))
        self._load_privacy(actor=actor, session=session)

    def _show_reading(self, reader: Reader) -> None:
        """Use ``reader`` on this tab's pages at once, and show how it writes a time."""
        self.user_timezone, self.user_locale = reader.timezone, reader.locale
        self.reading_example = (
            f"{reader.moment(datetime.now(UTC))} · {reader.money(EXAMPLE_AMOUNT, 'USD')}"
        )

    @rx.event
    @account_handler()
    def load(self, *, actor: Actor, session: Session) -> None:
        """Read the profile."""
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def change_email(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change the login email (needs re-authentication)."""
        self.message = accounts.change_email(
            session=session, actor=actor, new_email=str(form_data.get("new_email", ""))
        )
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def change_phone(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change the phone number (needs re-authentication)."""
        accounts.change_phone(session=session, actor=actor, phone=str(form_data.get("phone", "")))
        self.message = "Phone number saved."
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def change_password(
        self, form_data: dict, *, actor: Actor, session: Session
    ) -> rx.event.EventSpec:
        """Change the password (needs re-authentication); every browser is signed out."""
        password = str(form_data.get("new_password", ""))
        if password != str(form_data.get("confirm_password", "")):
            raise ValidationFailed("The two passwords are not the same.")
        accounts.change_password(session=session, actor=actor, new_password=password)
        # Every session is revoked; the login page then forgets this tab's state.
        return rx.redirect(routes.LOGIN)

    @rx.event
    @account_handler()
    def save_date_of_birth(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Save the date of birth, encrypted."""
        profile.update_date_of_birth(
            session=session, actor=actor, date_of_birth=str(form_data.get("date_of_birth", ""))
        )
        self.message = "Date of birth saved."
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler()
    def save_reading(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Choose the time zone and the language and region that times and amounts are shown in."""
        data = form_data if isinstance(form_data, dict) else {}
        reader = profile.set_reading(
            session=session,
            actor=actor,
            timezone=data.get("timezone"),
            locale=data.get("locale"),
        )
        self.message = f"Times are now shown in {reader.zone_label()}."
        self._load(actor=actor, session=session)

    @rx.event
    @guarded("account.self", unit_of_work=False, clear=("error", "message"))
    async def upload_photo(self, files: list[rx.UploadFile], *, actor: Actor) -> None:
        """Check, resize and keep the person's photo (shown in the tree and the navigation)."""
        uploads = files if isinstance(files, list) else []
        if not uploads or not isinstance(uploads[0], rx.UploadFile):
            raise ValidationFailed("Choose a photo to upload.")
        upload = uploads[0]
        data = await upload.read(photos.MAX_PHOTO_BYTES + 1)
        with unit_of_work(actor) as session:
            self.photo_url = photos.set_photo(
                session=session, actor=actor, data=data, filename=upload.name or "photo"
            )
        self.user_photo_url = self.photo_url
        self.message = "Photo saved."

    @rx.event
    @account_handler()
    def remove_photo(self, *, actor: Actor, session: Session) -> None:
        """Remove the photo: initials are shown instead."""
        photos.remove_photo(session=session, actor=actor)
        self.photo_url = self.user_photo_url = ""
        self.message = "Photo removed."

    @rx.event
    @account_handler()
    def download_my_data(self, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """A copy of everything held about the person, as JSON (needs re-authentication)."""
        data = privacy.export_json(session=session, actor=actor)
        self._load_privacy(actor=actor, session=session)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return rx.download(
            data=data, filename=f"my-data-{stamp}.json", mime_type="application/json"
        )

    @rx.event
    @account_handler()
    def ask_erasure(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Ask for the erasure of the account (needs re-authentication and the box ticked)."""
        data = form_data if isinstance(form_data, dict) else {}
        if not data.get("confirm"):
            raise ValidationFailed(
                "Tick the box to confirm that you want your account and personal data erased."
            )
        shown = privacy.request_erasure(
            session=session, actor=actor, regime=str(data.get("regime", "") or "")
        )
        self.message = (
            f"Your request is recorded. Under {shown.regime_name} we answer by "
            f"{self.reader().day(shown.deadline)}; we will email you."
        )
        self._load_privacy(actor=actor, session=session)


def _masked(last4: rx.Var) -> rx.Component:
    return rx.cond(last4 != "", rx.text("•••• " + last4), rx.text("Not on file"))


def _one_field_form(label: str, name: str, handler, button: str, **props) -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_input(label, name, **props),
            rx.button(button, type="submit"),
            align="end",
            width="100%",
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _payouts_card() -> rx.Component:
    """Where a distributor's tax id and payout bank account are kept, with the tax id's last 4."""
    return section(
        "Payouts and taxes",
        rx.hstack(rx.text.strong("Tax id: "), _masked(ProfileState.tax_id_last4)),
        rx.text(
            "Your tax id comes from the tax form you certify (Form W-9, or W-8BEN outside the "
            "US); your payouts go to the bank account in your wallet.",
            size="2",
            color=rx.color("gray", 10),
        ),
        rx.hstack(
            rx.link("Identity and tax", href=routes.DISTRIBUTOR_TAX),
            rx.link("Wallet", href=routes.DISTRIBUTOR_WALLET),
            spacing="4",
            wrap="wrap",
        ),
    )


def _device_card() -> rx.Component:
    """Push notifications on this device, and the CRM kept on it for when there is no signal.

    The buttons and the status line are worked by ``assets/pwa.js`` (the browser asks for the
    permission only when "Turn on notifications" is pressed); the page renders them only.
    """
    return section(
        "This device",
        rx.text(
            "Get a notification on this phone or computer when something needs you: a new "
            "order, your commission statement, a payout, a reminder.",
            size="2",
        ),
        rx.hstack(
            rx.button(
                rx.icon("bell-ring", size=14),
                "Turn on notifications",
                id="push-on",
                type="button",
                class_name="touch-target",
            ),
            rx.button(
                "Turn off",
                id="push-off",
                type="button",
                variant="soft",
                color_scheme="gray",
                class_name="touch-target",
            ),
            spacing="3",
            wrap="wrap",
        ),
        # A live region, not role="status": the page's own notices are the status.
        rx.text("", id="push-status", aria_live="polite", size="2", color=rx.color("gray", 11)),
        rx.cond(
            ProfileState.keeps_crm,
            rx.text(
                "Your today list, tasks and contacts are also kept on this device, for when "
                "you have no signal: ",
                rx.el.a("open the offline CRM", href=routes.OFFLINE_CRM, id="offline-crm-link"),
                ". Notes, calls and completed tasks made there are sent when the signal is back.",
                size="2",
            ),
        ),
    )


def _your_data_card() -> rx.Component:
    """Download a copy of one's data, ask for erasure, and follow the requests."""
    return section(
        "Your data",
        rx.text(
            "Download everything we hold about you as a JSON file. Your tax id, bank details "
            "and date of birth appear only as their last 4 characters.",
            size="2",
        ),
        rx.button(
            rx.icon("download", size=14),
            "Download my data",
            on_click=ProfileState.download_my_data,
            variant="soft",
            id="download-my-data",
            class_name="touch-target",
        ),
        rx.cond(
            ProfileState.erasure_waiting,
            rx.text(
                "Your request to erase your account is being handled; see its deadline below.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    rx.text(
                        "Ask to erase your account: your personal data is removed and you can no "
                        "longer sign in. We keep what the law requires (orders and payments, "
                        "commission and tax records, the audit trail).",
                        size="2",
                    ),
                    rx.text("The law for your country: ", ProfileState.default_regime, size="2"),
                    rx.el.select(
                        rx.el.option("The law for my country", value=""),
                        rx.el.option("GDPR (one month)", value="gdpr"),
                        rx.el.option("CCPA (45 days)", value="ccpa"),
                        name="regime",
                        aria_label="The law your request is made under",
                        style={"padding": "0.4rem"},
                        class_name="touch-target",
                    ),
                    rx.el.label(
                        rx.checkbox(name="confirm", id="erasure-confirm"),
                        " I want my account and personal data erased",
                        html_for="erasure-confirm",
                        style={"display": "flex", "gap": "0.5rem", "alignItems": "center"},
                    ),
                    rx.button(
                        "Ask to erase my account",
                        type="submit",
                        color_scheme="red",
                        variant="soft",
                        class_name="touch-target",
                    ),
                    width="100%",
                ),
                on_submit=ProfileState.ask_erasure,
                reset_on_submit=True,
            ),
        ),
        simple_table(
            PRIVACY_COLUMNS,
            ProfileState.privacy_requests,
            row_id="privacy-request",
            empty_text="You have made no privacy request.",
            table_id="my-privacy-requests",
        ),
    )


def _reading_card() -> rx.Component:
    """Time zone, and language and region: how times, dates and amounts are written."""
    return section(
        "Time and language",
        rx.text(
            rx.cond(
                ProfileState.reading_chosen,
                "You chose these. ",
                "Taken from your browser when you sign in, until you choose here. ",
            ),
            "Example: ",
            rx.text.strong(ProfileState.reading_example, id="reading-example"),
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.form(
            rx.vstack(
                rx.el.label("Time zone", html_for="reading-timezone", font_weight="500"),
                rx.el.select(
                    *[rx.el.option(zone.replace("_", " "), value=zone) for zone in time_zones()],
                    id="reading-timezone",
                    name="timezone",
                    default_value=ProfileState.timezone,
                    key=ProfileState.timezone,
                    style=_SELECT_STYLE,
                ),
                rx.el.label("Language and region", html_for="reading-locale", font_weight="500"),
                rx.el.select(
                    *[rx.el.option(label, value=tag) for tag, label in LOCALES.items()],
                    id="reading-locale",
                    name="locale",
                    default_value=ProfileState.locale,
                    key=ProfileState.locale,
                    style=_SELECT_STYLE,
                ),
                rx.button("Save time and language", type="submit"),
                width="100%",
            ),
            on_submit=ProfileState.save_reading,
        ),
    )


_SELECT_STYLE = {
    "width": "100%",
    "padding": "0.4rem",
    "borderRadius": "var(--radius-2)",
    "border": "1px solid var(--gray-7)",
    "background": "var(--color-surface)",
}


def _photo_card() -> rx.Component:
    """The photo that the tree and the navigation show, with upload and remove."""
    return section(
        "Photo",
        rx.hstack(
            rx.avatar(
                src=ProfileState.photo_url,
                fallback=ProfileState.user_name.to(str)[:1],
                size="6",
                radius="full",
                id="profile-photo",
            ),
            rx.vstack(
                rx.upload(
                    rx.text(
                        "Drop a photo here or click to choose (PNG, JPEG, GIF or WebP, up to 5 MB)"
                    ),
                    id=PHOTO_UPLOAD,
                    accept={"image/*": [".png", ".jpg", ".jpeg", ".gif", ".webp"]},
                    max_files=1,
                    on_drop=ProfileState.upload_photo(rx.upload_files(upload_id=PHOTO_UPLOAD)),
                    border="1px dashed var(--gray-7)",
                    padding="0.75rem",
                    width="100%",
                ),
                rx.cond(
                    ProfileState.photo_url != "",
                    rx.button(
                        "Remove photo",
                        variant="soft",
                        color_scheme="gray",
                        on_click=ProfileState.remove_photo,
                    ),
                ),
                width="100%",
            ),
            align="center",
            width="100%",
        ),
        rx.text(
            "It is cut to a square and made smaller; its location and camera details are removed.",
            size="1",
            color=rx.color("gray", 10),
        ),
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(ProfileState.error),
        notice_message(ProfileState.message),
        section(
            "You",
            rx.text(rx.text.strong("Name: "), ProfileState.name),
            rx.text(rx.text.strong("Email: "), ProfileState.email),
            rx.text(rx.text.strong("Phone: "), ProfileState.phone),
            _one_field_form(
                "New email", "new_email", ProfileState.change_email, "Change email", type="email"
            ),
            _one_field_form("Phone", "phone", ProfileState.change_phone, "Save phone", type="tel"),
        ),
        _photo_card(),
        _reading_card(),
        section(
            "Password",
            rx.form(
                rx.vstack(
                    labelled_input(
                        "New password",
                        "new_password",
                        type="password",
                        auto_complete="new-password",
                    ),
                    labelled_input(
                        "New password again",
                        "confirm_password",
                        type="password",
                        auto_complete="new-password",
                    ),
                    rx.button("Change password", type="submit"),
                    rx.text(
                        "Changing your password signs you out on every device.",
                        size="1",
                        color=rx.color("gray", 10),
                    ),
                    width="100%",
                ),
                on_submit=ProfileState.change_password,
                reset_on_submit=True,
            ),
        ),
        rx.cond(ProfileState.payouts_card, _payouts_card()),
        section(
            "Date of birth",
            rx.hstack(
                rx.text.strong("Date of birth: "),
                rx.cond(
                    ProfileState.date_of_birth_on_file, rx.text("On file"), rx.text("Not on file")
                ),
            ),
            _one_field_form(
                "Date of birth",
                "date_of_birth",
                ProfileState.save_date_of_birth,
                "Save date of birth",
                type="date",
            ),
        ),
        _device_card(),
        _your_data_card(),
        section(
            "Security",
            rx.hstack(
                rx.link("Two-factor authentication", href=routes.TWO_FACTOR_SETUP),
                rx.link("Signed-in devices", href=routes.ACCOUNT_SESSIONS),
                rx.link("API tokens", href=routes.ACCOUNT_TOKENS),
                spacing="4",
                wrap="wrap",
            ),
        ),
        spacing="4",
        width="100%",
        max_width="44rem",
    )


def profile_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="My account", nav=None)
