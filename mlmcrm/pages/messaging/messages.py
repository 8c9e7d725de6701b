"""``/admin/messages``: what the company sends, and what became of it.

Deliveries: every message with its status, filtered by status, channel or address; a failed
message (or one a stopped worker left ``unknown``) is sent again after a person checked it, with
a reason. Templates: the words of each kind of message per channel and language, with a preview
on sample data; an SMS template must be approved for SMS. The postal address marketing email
carries.
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import data_table, export_button, simple_table
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
    value_choices,
)
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.models.messaging import MESSAGE_CHANNELS, MESSAGE_STATUSES
from mlmcrm.models.network import DISTRIBUTOR_STATUSES
from mlmcrm.services.messaging import announcements, delivery, templates
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.paged_list import MAX_FILTER_LENGTH, Column, PagedListState

DELIVERIES = "messaging.deliveries"
ANNOUNCE = "messaging.announce"
TEMPLATES = "messaging.templates"
TEMPLATE_COLUMNS = (
    Column("label", "Message"),
    Column("channel", "Channel"),
    Column("category", "Category"),
    Column("customised", "Words"),
    Column("sms", "SMS approved"),
)


class MessagesState(PageOpener, PagedListState, AuthState):
    """The deliveries list, the template being edited, and the postal address."""

    message: str = ""
    can_edit: bool = False
    retry_id: str = ""
    templates_rows: list[dict[str, str]] = []
    editing: dict[str, str] = {}
    draft_subject: str = ""
    draft_body: str = ""
    preview_subject: str = ""
    preview_body: str = ""
    postal: str = ""
    can_announce: bool = False
    announcement_plan: str = ""
    campaign_rows: list[dict[str, str]] = []

    list_permission: ClassVar[str] = DELIVERIES
    columns: ClassVar[tuple[Column, ...]] = (
        Column("created_at", "When", sortable=True),
        Column("kind", "Message", sortable=True),
        Column("channel", "Channel", sortable=True),
        Column("to_address", "To"),
        Column("status", "Status", sortable=True),
        Column("attempts", "Tries", numeric=True),
        Column("error", "Why"),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("q", "status", "channel")
    export_name: ClassVar[str] = "messages"

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        return delivery.list_messages(
            session=session,
            actor=actor,
            status=self.filters.get("status", ""),
            channel=self.filters.get("channel", ""),
            search=self.filters.get("q", ""),
            query=query,
        )

    def _load_templates(self, *, actor: Actor, session: Session) -> None:
        self.templates_rows = [
            {
                "id": f"{t.key}|{t.channel}",
                "key": t.key,
                "label": t.label,
                "channel": t.channel,
                "category": t.category,
                "customised": "the company's" if t.customised else "default",
                "sms": ("yes" if t.sms_approved else "no") if t.channel == "sms" else "",
                "subject": t.subject,
                "body": t.body,
                "variables": ", ".join(t.variables),
                "approved": "yes" if t.sms_approved else "",
            }
            for t in templates.list_templates(session=session, actor=actor)
        ]

    @rx.event
    @guarded(DELIVERIES, clear=("error", "message"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """The newest messages; the templates and the postal address for admins."""
        self._reset_list()
        self.retry_id, self.editing = "", {}
        self._reload_list(actor=actor, session=session)
        self.can_edit = permissions.can(TEMPLATES, actor=actor)
        self.can_announce = permissions.can(ANNOUNCE, actor=actor)
        self.announcement_plan = ""
        if self.can_edit:
            self._load_templates(actor=actor, session=session)
            self._load_campaign_templates(session=session)
            self.postal = delivery.postal_address(session=session, actor=actor)

    def _load_campaign_templates(self, *, session: Session) -> None:
        self.campaign_rows = [
            {
                "name": t.name,
                "channel": t.channel,
                "category": t.category,
                "sms": ("yes" if t.sms_approved else "no") if t.channel == "sms" else "",
            }
            for t in templates.campaign_templates(session=session)
        ]

    @rx.event
    @guarded(TEMPLATES, clear=("error", "message"))
    def save_campaign_template(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Save one of the company's campaign templates (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        saved = templates.save_campaign_template(
            session=session,
            actor=actor,
            name=str(data.get("name", "")),
            channel=str(data.get("channel", "")),
            category=str(data.get("category", "")),
            subject=str(data.get("subject", "")),
            body=str(data.get("body", "")),
            sms_approved=data.get("sms_approved") in ("on", True, "true"),
        )
        self.message = f"Saved the campaign template {saved.name} ({saved.channel})."
        self._load_campaign_templates(session=session)

    def _announcement(
        self, data: dict, *, actor: Actor, session: Session, dry_run: bool
    ) -> announcements.AnnouncementPlan:
        ranks = [r.strip() for r in str(data.get("ranks", "") or "").split(",") if r.strip()]
        statuses = [s for s in DISTRIBUTOR_STATUSES if data.get(f"status_{s}") in ("on", True)]
        return announcements.announce(
            session=session,
            actor=actor,
            subject=str(data.get("subject", "")),
            body=str(data.get("body", "")),
            ranks=ranks[:50],
            statuses=statuses,
            dry_run=dry_run,
        )

    @rx.event
    @guarded(ANNOUNCE, clear=("error", "message"))
    def check_announcement(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show how many distributors an announcement reaches, sending nothing."""
        data = form_data if isinstance(form_data, dict) else {}
        plan = self._announcement(data, actor=actor, session=session, dry_run=True)
        excluded = "; ".join(f"{reason} ({count})" for reason, count in plan.refused.items())
        self.announcement_plan = (
            f"{plan.total} distributors: {plan.emails} by email, all in the app."
            + (f" Not by email: {excluded}." if excluded else "")
        )

    @rx.event
    @guarded(ANNOUNCE, clear=("error", "message"))
    def send_announcement(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Send the announcement (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        plan = self._announcement(data, actor=actor, session=session, dry_run=False)
        self.message = f"Announcement sent: {plan.emails} emails, {plan.in_app} in the app."
        self.announcement_plan = ""
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(DELIVERIES, clear=("error", "message"))
    def search(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Filter the deliveries."""
        data = form_data if isinstance(form_data, dict) else {}
        self.filters = {
            name: str(data.get(name, "") or "").strip()[:MAX_FILTER_LENGTH]
            for name in self.filter_names
        }
        self.offset = 0
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(DELIVERIES, clear=("error", "message"), unit_of_work=False)
    def choose_retry(self, message_id: str, *, actor: Actor) -> None:
        """Open the retry form of one message (nothing is sent until it is confirmed)."""
        wanted = parse_id(str(message_id))
        self.retry_id = str(wanted) if wanted is not None else ""

    @rx.event
    @guarded(DELIVERIES, clear=("error", "message"))
    def retry(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Send the chosen message again, with a reason (audited)."""
        wanted = parse_id(self.retry_id)
        data = form_data if isinstance(form_data, dict) else {}
        count = delivery.retry(
            session=session,
            actor=actor,
            message_ids=[wanted] if wanted is not None else [],
            reason=str(data.get("reason", "")),
        )
        self.message = (
            "Queued again." if count else "Only a failed or unknown message can be sent again."
        )
        self.retry_id = ""
        self._reload_list(actor=actor, session=session)

    @rx.event
    @guarded(TEMPLATES, clear=("error", "message"))
    def edit(self, template_id: str, *, actor: Actor, session: Session) -> None:
        """Open one template in the editor."""
        self._load_templates(actor=actor, session=session)
        found = [row for row in self.templates_rows if row["id"] == str(template_id)]
        self.editing = found[0] if found else {}
        self.draft_subject = self.editing.get("subject", "")
        self.draft_body = self.editing.get("body", "")
        self.preview_subject = self.preview_body = ""

    @rx.event
    def set_draft_subject(self, value: str) -> None:
        """Keep the subject as it is typed (for the preview)."""
        self.draft_subject = str(value)[: templates.MAX_SUBJECT * 2]

    @rx.event
    def set_draft_body(self, value: str) -> None:
        """Keep the body as it is typed (for the preview)."""
        self.draft_body = str(value)[: templates.MAX_BODY * 2]

    @rx.event
    @guarded(TEMPLATES, clear=("error", "message"))
    def preview(self, *, actor: Actor, session: Session) -> None:
        """Show the words being written with the sample data, without saving them."""
        self.preview_subject, self.preview_body = templates.preview(
            session=session,
            actor=actor,
            key=self.editing.get("key", ""),
            channel=self.editing.get("channel", ""),
            subject=self.draft_subject,
            body=self.draft_body,
        )

    @rx.event
    @guarded(TEMPLATES, clear=("error", "message"))
    def save(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Save the words (and the SMS approval) of the open template (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        saved = templates.save_template(
            session=session,
            actor=actor,
            key=self.editing.get("key", ""),
            channel=self.editing.get("channel", ""),
            subject=self.draft_subject,
            body=self.draft_body,
            locale=str(data.get("locale", "") or "en").strip(),
            sms_approved=data.get("sms_approved") in ("on", True, "true"),
        )
        self.message = f"Saved the {saved.channel} words of {saved.label} ({saved.locale})."
        self._load_templates(actor=actor, session=session)
        self.editing = {}

    @rx.event
    @guarded(TEMPLATES, clear=("error", "message"))
    def save_postal(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Set the postal address of marketing email (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        self.postal = delivery.set_postal_address(
            session=session, actor=actor, address=str(data.get("postal", ""))
        )
        self.message = "The postal address is saved."


def _retry_button(row: rx.Var) -> rx.Component:
    return rx.cond(
        (row["status"] == "failed") | (row["status"] == "unknown"),
        rx.button(
            "Retry",
            on_click=MessagesState.choose_retry(row["id"]),
            size="1",
            variant="soft",
            class_name="touch-target",
        ),
    )


def _deliveries() -> rx.Component:
    return section(
        "Deliveries",
        rx.form(
            rx.hstack(
                labelled_input("Address", "q", id="message-address"),
                labelled_select(
                    "Status",
                    "status",
                    value_choices(MESSAGE_STATUSES),
                    any_label="Any status",
                    id="message-status-filter",
                ),
                labelled_select(
                    "Channel",
                    "channel",
                    value_choices(MESSAGE_CHANNELS),
                    any_label="Any channel",
                    id="message-channel-filter",
                ),
                rx.button("Find", type="submit", class_name="touch-target"),
                export_button(MessagesState),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=MessagesState.search,
            reset_on_submit=False,
        ),
        rx.cond(
            MessagesState.retry_id != "",
            rx.form(
                rx.hstack(
                    rx.text("Send message #", MessagesState.retry_id, " again?"),
                    labelled_input("Reason", "reason", id="retry-reason", required=True),
                    rx.button("Send again", type="submit", class_name="touch-target"),
                    align="end",
                    wrap="wrap",
                ),
                on_submit=MessagesState.retry,
                reset_on_submit=True,
            ),
        ),
        data_table(
            MessagesState,
            row_id="message-row-",
            actions=_retry_button,
            empty_text="No message matches: clear the search, or choose “Any status” and “Any "
            "channel”.",
        ),
    )


def _edit_button(row: rx.Var) -> rx.Component:
    return rx.button(
        "Edit",
        on_click=MessagesState.edit(row["id"]),
        size="1",
        variant="soft",
        class_name="touch-target",
    )


def _editor() -> rx.Component:
    e = MessagesState.editing
    return rx.form(
        rx.vstack(
            rx.heading(e["label"], " (", e["channel"], ")", size="3"),
            rx.text("Variables: ", e["variables"], size="2", color=rx.color("gray", 11)),
            labelled_input("Language", "locale", id="template-locale", placeholder="en"),
            rx.vstack(
                rx.el.label("Subject", html_for="template-subject"),
                rx.input(
                    # Kept in the page's state as it is typed (the preview follows it); the name
                    # only keeps the form's data keyed by name, as Reflex 0.11 requires.
                    id="template-subject",
                    name="subject",
                    value=MessagesState.draft_subject,
                    on_change=MessagesState.set_draft_subject,
                    width="100%",
                ),
                width="100%",
                spacing="1",
            ),
            rx.vstack(
                rx.el.label("Body", html_for="template-body"),
                rx.text_area(
                    id="template-body",
                    name="body",
                    value=MessagesState.draft_body,
                    on_change=MessagesState.set_draft_body,
                    rows="8",
                    width="100%",
                ),
                width="100%",
                spacing="1",
            ),
            rx.cond(
                e["channel"] == "sms",
                rx.el.label(
                    rx.el.input(
                        type="checkbox", name="sms_approved", default_checked=e["approved"] != ""
                    ),
                    " Approved for SMS (transactional, customer care or product information)",
                ),
            ),
            rx.hstack(
                rx.button("Save", type="submit", class_name="touch-target"),
                rx.button(
                    "Preview",
                    type="button",
                    variant="soft",
                    class_name="touch-target",
                    on_click=MessagesState.preview,
                ),
            ),
            rx.cond(
                MessagesState.preview_body != "",
                rx.card(
                    rx.text(rx.text.strong(MessagesState.preview_subject)),
                    rx.text(MessagesState.preview_body, white_space="pre-wrap"),
                    id="template-preview",
                    width="100%",
                ),
            ),
            width="100%",
        ),
        on_submit=MessagesState.save,
        reset_on_submit=False,
        key=e["id"],
        width="100%",
    )


def _templates() -> rx.Component:
    return section(
        "Templates",
        rx.cond(MessagesState.editing.contains("key"), _editor()),
        simple_table(
            TEMPLATE_COLUMNS,
            MessagesState.templates_rows,
            row_id="template-",
            actions=_edit_button,
        ),
    )


def _postal() -> rx.Component:
    return section(
        "Postal address in marketing email",
        rx.form(
            rx.hstack(
                rx.input(
                    name="postal",
                    default_value=MessagesState.postal,
                    key=MessagesState.postal,
                    aria_label="Postal address",
                    width="100%",
                ),
                rx.button("Save address", type="submit", class_name="touch-target"),
                width="100%",
            ),
            on_submit=MessagesState.save_postal,
            reset_on_submit=False,
        ),
    )


CATEGORY_CHOICES = ("product_info", "customer_care", "marketing")


def _campaign_templates() -> rx.Component:
    return section(
        "Campaign templates (what distributors may send their contacts)",
        simple_table(
            (
                Column("name", "Name"),
                Column("channel", "Channel"),
                Column("category", "About"),
                Column("sms", "SMS approved"),
            ),
            MessagesState.campaign_rows,
            empty_text="No campaign template yet.",
        ),
        rx.form(
            rx.vstack(
                rx.hstack(
                    labelled_input("Name", "name", id="campaign-name", required=True),
                    rx.el.select(
                        rx.el.option("Email", value="email"),
                        rx.el.option("SMS", value="sms"),
                        name="channel",
                        aria_label="Channel",
                        style={"padding": "0.4rem"},
                        class_name="touch-target",
                    ),
                    rx.el.select(
                        *[rx.el.option(c, value=c) for c in CATEGORY_CHOICES],
                        name="category",
                        aria_label="About",
                        style={"padding": "0.4rem"},
                        class_name="touch-target",
                    ),
                    wrap="wrap",
                    align="end",
                    width="100%",
                ),
                labelled_input("Subject (email)", "subject", id="campaign-subject"),
                rx.text_area(
                    name="body",
                    aria_label="Words",
                    placeholder="Hello {{ first_name }}, … {{ sender_name }}",
                    rows="4",
                    width="100%",
                ),
                rx.el.label(
                    rx.el.input(type="checkbox", name="sms_approved"),
                    " Approved for SMS",
                ),
                rx.button("Save campaign template", type="submit", class_name="touch-target"),
                width="100%",
            ),
            on_submit=MessagesState.save_campaign_template,
            reset_on_submit=True,
        ),
    )


def _announce() -> rx.Component:
    return section(
        "Announce to distributors",
        rx.form(
            rx.vstack(
                labelled_input("Subject", "subject", id="announce-subject", required=True),
                rx.text_area(name="body", aria_label="Announcement", rows="5", width="100%"),
                labelled_input(
                    "Ranks (codes, comma-separated; empty: all)", "ranks", id="announce-ranks"
                ),
                rx.hstack(
                    *[
                        rx.el.label(
                            rx.el.input(type="checkbox", name=f"status_{status}"),
                            f" {status}",
                            class_name="touch-target",
                        )
                        for status in DISTRIBUTOR_STATUSES
                    ],
                    wrap="wrap",
                ),
                rx.hstack(
                    rx.button("Check", type="submit", variant="soft", class_name="touch-target"),
                    rx.button(
                        "Send announcement",
                        type="button",
                        class_name="touch-target",
                        on_click=rx.call_script(
                            "(() => { const f = document.getElementById('announce-form');"
                            " return Object.fromEntries(new FormData(f)); })()",
                            callback=MessagesState.send_announcement,
                        ),
                    ),
                ),
                rx.cond(
                    MessagesState.announcement_plan != "",
                    rx.text(MessagesState.announcement_plan, id="announcement-plan"),
                ),
                width="100%",
            ),
            id="announce-form",
            on_submit=MessagesState.check_announcement,
            reset_on_submit=False,
        ),
    )


def messages_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            error_message(MessagesState.error),
            notice_message(MessagesState.message),
            _deliveries(),
            rx.cond(MessagesState.can_announce, _announce()),
            rx.cond(
                MessagesState.can_edit,
                rx.vstack(_postal(), _campaign_templates(), _templates(), width="100%"),
            ),
            spacing="4",
            width="100%",
        ),
        title="Messages",
        nav=STAFF_NAV,
    )
