"""``/crm/campaigns``: send one of the company's templates to a filtered set of your contacts.

Choose a template (email, or SMS for contacts who agreed to your texts) and filter your
contacts; "Check" shows how many will get it, how many wait for their daytime window, and who is
excluded and why; "Send" sends it. Your recent campaigns are listed below.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell
from mlmcrm.services.crm import campaigns
from mlmcrm.services.messaging import templates
from mlmcrm.services.platform.actor import Actor
from mlmcrm.state.auth import AuthState, PageOpener
from mlmcrm.state.handlers import guarded
from mlmcrm.state.paged_list import MAX_FILTER_LENGTH, Column

OWN = "crm.own"
HISTORY = (
    Column("sent_at", "Sent"),
    Column("template", "Template"),
    Column("channel", "Channel"),
    Column("queued", "Sent", numeric=True),
    Column("held", "Waiting", numeric=True),
    Column("refused", "Excluded", numeric=True),
)
EXCLUDED = (Column("reason", "Why"), Column("count", "Contacts", numeric=True))


def _audience(data: dict) -> campaigns.Audience:
    return campaigns.Audience(
        stage=str(data.get("stage", "") or "")[:MAX_FILTER_LENGTH],
        tag=str(data.get("tag", "") or "")[:MAX_FILTER_LENGTH],
        search=str(data.get("search", "") or "")[:MAX_FILTER_LENGTH],
    )


class CampaignsState(PageOpener, AuthState):
    """The templates, the plan of the current choice, and the history."""

    error: str = ""
    message: str = ""
    choices: list[list[str]] = []
    plan: dict[str, str] = {}
    excluded: list[dict[str, str]] = []
    examples: list[dict[str, str]] = []
    history: list[dict[str, str]] = []

    def _load(self, *, actor: Actor, session: Session) -> None:
        self.choices = [
            [t.key, f"{t.name} ({t.channel})"]
            for t in templates.campaign_templates(session=session)
            if t.channel == "email" or t.sms_approved
        ]
        self.history = [
            {k: str(v) for k, v in row.model_dump(mode="json").items()}
            for row in campaigns.recent(session=session, actor=actor)
        ]

    def _show(self, result: campaigns.PlanPublic) -> None:
        self.plan = {
            "total": str(result.total),
            "queued": str(result.queued),
            "held": str(result.held),
            "refused": str(sum(result.refused.values())),
        }
        self.excluded = [
            {"reason": reason, "count": str(count)} for reason, count in result.refused.items()
        ]
        self.examples = [{"name": name, "reason": reason} for name, reason in result.examples]

    @rx.event
    @guarded(OWN, clear=("error", "message"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """The company's templates and the distributor's recent campaigns."""
        self.plan, self.excluded, self.examples = {}, [], []
        self._load(actor=actor, session=session)

    @rx.event
    @guarded(OWN, clear=("error", "message"))
    def check(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show who would get it and who is excluded, sending nothing."""
        data = form_data if isinstance(form_data, dict) else {}
        self._show(
            campaigns.plan(
                session=session,
                actor=actor,
                template_key=str(data.get("template", "")),
                audience=_audience(data),
            )
        )

    @rx.event
    @guarded(OWN, clear=("error", "message"))
    def send(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Send it (the same rules as the check)."""
        data = form_data if isinstance(form_data, dict) else {}
        result = campaigns.send(
            session=session,
            actor=actor,
            template_key=str(data.get("template", "")),
            audience=_audience(data),
        )
        self._show(result)
        self.message = (
            f"Sent to {result.queued} contacts"
            + (f"; {result.held} wait for their daytime window" if result.held else "")
            + "."
        )
        self._load(actor=actor, session=session)


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.vstack(
                rx.el.label("Template", html_for="campaign-template"),
                rx.el.select(
                    rx.foreach(
                        CampaignsState.choices,
                        lambda choice: rx.el.option(choice[1], value=choice[0]),
                    ),
                    id="campaign-template",
                    name="template",
                    style={"padding": "0.5rem", "width": "100%"},
                    class_name="touch-target",
                ),
                spacing="1",
                width="100%",
            ),
            rx.hstack(
                labelled_input("Stage", "stage", id="campaign-stage"),
                labelled_input("Tag", "tag", id="campaign-tag"),
                labelled_input("Name or email", "search", id="campaign-search"),
                wrap="wrap",
                width="100%",
            ),
            rx.hstack(
                rx.button(
                    "Check",
                    type="submit",
                    variant="soft",
                    class_name="touch-target",
                ),
                rx.button(
                    "Send",
                    type="button",
                    class_name="touch-target",
                    on_click=rx.call_script(
                        "(() => { const f = document.getElementById('campaign-form');"
                        " return Object.fromEntries(new FormData(f)); })()",
                        callback=CampaignsState.send,
                    ),
                ),
            ),
            width="100%",
        ),
        id="campaign-form",
        on_submit=CampaignsState.check,
        reset_on_submit=False,
    )


def _plan() -> rx.Component:
    p = CampaignsState.plan
    return rx.cond(
        CampaignsState.plan.contains("total"),
        rx.vstack(
            rx.text(
                p["total"],
                " contacts match: ",
                rx.text.strong(p["queued"]),
                " get it now, ",
                p["held"],
                " wait for their daytime window, ",
                p["refused"],
                " are excluded.",
                id="campaign-plan",
            ),
            simple_table(EXCLUDED, CampaignsState.excluded, empty_text="Nobody is excluded."),
            rx.cond(
                CampaignsState.examples.length() > 0,  # type: ignore[attr-defined]  # a list Var has length() at run time
                simple_table(
                    (Column("name", "Contact"), Column("reason", "Why excluded")),
                    CampaignsState.examples,
                ),
            ),
            width="100%",
        ),
    )


def campaigns_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            error_message(CampaignsState.error),
            notice_message(CampaignsState.message),
            section(
                "Send to your contacts",
                rx.text(
                    "Only the company's templates go out. Texts go only to contacts who agreed "
                    "to texts from you, and wait for their daytime; email honours unsubscribes.",
                    size="2",
                    color=rx.color("gray", 11),
                ),
                rx.cond(
                    CampaignsState.choices.length() > 0,  # type: ignore[attr-defined]  # a list Var has length() at run time
                    _form(),
                    rx.text("The company has no campaign template yet."),
                ),
                _plan(),
            ),
            section(
                "Your campaigns",
                simple_table(HISTORY, CampaignsState.history, empty_text="No campaign yet."),
            ),
            spacing="4",
            width="100%",
        ),
        title="Campaigns",
        nav=DISTRIBUTOR_NAV,
    )
