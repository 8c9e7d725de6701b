"""``/wallet``: a distributor's balance, what holds the next payout, the payout method, history."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import simple_table
from mlmcrm.components.forms import error_message, labelled_input, notice_message, section
from mlmcrm.components.layout import DISTRIBUTOR_NAV, app_shell, stat_card
from mlmcrm.services.payouts import methods, wallet_view
from mlmcrm.services.platform.actor import Actor
from mlmcrm.settings import get_settings
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.paged_list import Column

ENTRY_COLUMNS = (
    Column("at", "When"),
    Column("description", "What"),
    Column("amount", "Amount", numeric=True),
)
PAYOUT_COLUMNS = (
    Column("id", "Payout"),
    Column("sent_at", "Sent"),
    Column("method", "Method"),
    Column("amount", "Amount", numeric=True),
    Column("status", "Status"),
    Column("failure_reason", "Why it failed"),
)


class WalletState(PageOpener, AccountState):
    """The wallet page."""

    balance: str = ""
    currency: str = ""
    negative: bool = False
    payable: bool = False
    threshold: str = ""
    method: str = ""
    holds: list[dict[str, str]] = []
    entries: list[dict[str, str]] = []
    payouts: list[dict[str, str]] = []

    def _load(self, *, actor: Actor, session: Session) -> None:
        shown = wallet_view.my_wallet(session=session, actor=actor)
        reader = self.reader()
        self.balance, self.currency = reader.number(shown.balance), shown.currency
        self.negative, self.payable = shown.negative, shown.payable
        self.threshold = reader.number(shown.threshold)
        self.method = shown.method
        self.holds = [{"reason": h.reason, "what_to_do": h.what_to_do} for h in shown.holds]
        self.entries = [
            {
                "id": str(e.id),
                "at": reader.day(e.at),
                "description": e.description,
                "amount": reader.number(e.amount),
                "statement": f"{routes.DISTRIBUTOR_STATEMENT}?period={e.period_id}"
                if e.period_id
                else "",
            }
            for e in shown.entries
        ]
        self.payouts = [
            {
                "id": f"#{p.id}",
                "sent_at": reader.day(p.sent_at),
                "method": p.method,
                "amount": reader.money(p.amount, p.currency),
                "status": p.status,
                "failure_reason": p.failure_reason,
            }
            for p in wallet_view.my_payouts(session=session, actor=actor)
        ]

    @rx.event
    @account_handler("back_office.view")
    def load(self, *, actor: Actor, session: Session) -> None:
        """Read the wallet; coming back from Stripe's onboarding, ask Stripe how it went."""
        if self.router.page.params.get("stripe") == "return":
            methods.refresh_own_stripe(session=session, actor=actor)
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler("back_office.view")
    def save_bank_account(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Pay me by bank transfer to this account (needs re-authentication)."""
        methods.set_bank_account(
            session=session,
            actor=actor,
            holder_name=str(form_data.get("holder_name", "")),
            routing_number=str(form_data.get("routing_number", "")),
            account_number=str(form_data.get("account_number", "")),
            account_type=str(form_data.get("account_type", "checking")),
            business=str(form_data.get("business", "")) == "on",
        )
        self.message = (
            "Bank account saved. We emailed you about the change; the next payout waits for "
            "the cooling period."
        )
        self._load(actor=actor, session=session)

    @rx.event
    @account_handler("back_office.view")
    def start_stripe(self, *, actor: Actor, session: Session) -> rx.event.EventSpec:
        """Open Stripe's onboarding for a connected account."""
        base = get_settings().app_url.rstrip("/")
        link = methods.start_stripe_onboarding(
            session=session,
            actor=actor,
            return_url=f"{base}{routes.DISTRIBUTOR_WALLET}?stripe=return",
            refresh_url=f"{base}{routes.DISTRIBUTOR_WALLET}",
        )
        return rx.redirect(link, is_external=True)


def _holds() -> rx.Component:
    return rx.cond(
        WalletState.holds.length() > 0,
        rx.vstack(
            rx.foreach(
                WalletState.holds,
                lambda h: rx.callout(
                    rx.text(
                        rx.text.strong(h["reason"]),
                        " ",
                        h["what_to_do"],
                        rx.cond(
                            h["what_to_do"].contains("Identity and tax page"),
                            rx.link(" Open it.", href=routes.DISTRIBUTOR_TAX),
                        ),
                    ),
                    color_scheme="amber",
                    icon="circle-alert",
                    width="100%",
                ),
            ),
            id="payout-holds",
            width="100%",
        ),
        rx.cond(
            WalletState.payable,
            rx.callout(
                "Your balance will be paid in the next payout.", icon="check", id="payout-holds"
            ),
            rx.text("Nothing to pay yet.", id="payout-holds"),
        ),
    )


def _bank_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            labelled_input("Account holder", "holder_name", required=True),
            labelled_input("Routing number (9 digits)", "routing_number", required=True),
            labelled_input("Account number", "account_number", required=True),
            rx.el.label("Account type", html_for="account-type"),
            rx.el.select(
                rx.el.option("Checking", value="checking"),
                rx.el.option("Savings", value="savings"),
                id="account-type",
                name="account_type",
            ),
            rx.hstack(
                rx.el.input(type="checkbox", name="business", id="business"),
                rx.el.label("This is a business account", html_for="business"),
            ),
            rx.button("Save bank account", type="submit"),
            width="100%",
        ),
        on_submit=WalletState.save_bank_account,
        reset_on_submit=True,
    )


def _content() -> rx.Component:
    return rx.vstack(
        error_message(WalletState.error),
        notice_message(WalletState.message),
        rx.hstack(
            stat_card(
                "Balance",
                WalletState.balance + " " + WalletState.currency,
                rx.cond(
                    WalletState.negative,
                    "Negative: clawbacks after a payout, recovered from later earnings.",
                    "Paid once it reaches " + WalletState.threshold + " " + WalletState.currency,
                ),
            ),
            width="100%",
        ),
        section("What holds your next payout", _holds()),
        section(
            "Payout method",
            rx.text(rx.cond(WalletState.method != "", WalletState.method, "None set up yet.")),
            rx.button("Get paid with Stripe", on_click=WalletState.start_stripe, variant="soft"),
            rx.text("Or a US bank account (paid by ACH):", size="2"),
            _bank_form(),
        ),
        section(
            "Entries",
            simple_table(
                ENTRY_COLUMNS,
                WalletState.entries,
                row_id="entry",
                actions=lambda row: rx.cond(
                    row["statement"] != "",
                    rx.link("Statement lines", href=row["statement"]),
                    rx.fragment(),
                ),
                actions_label="Where from",
                empty_text="No entries yet: earnings arrive when a period closes.",
                table_id="wallet-entries",
            ),
        ),
        section(
            "Payouts",
            simple_table(
                PAYOUT_COLUMNS,
                WalletState.payouts,
                empty_text="No payouts yet.",
                table_id="payout-history",
            ),
        ),
        spacing="4",
        width="100%",
        max_width="56rem",
    )


def wallet_page() -> rx.Component:
    """The page."""
    return app_shell(_content(), title="Wallet", nav=DISTRIBUTOR_NAV)
