"""``/admin/payouts``: where the finance team pays commissions.

Batches: build one from the closed periods not yet paid, have another finance user approve it
(after re-entering their password), execute it on the worker and follow its progress, then
download the ACH file for the bank (audited: it holds full account numbers). A batch's detail
shows its totals by payout method, who is held and why, and its payouts (a paged list with CSV
export). Bank returns are applied from the bank's return file. Holds are set and released here,
the sanctions list is imported here, and the payout policy and the company's bank details for
ACH files are kept here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from mlmcrm import routes
from mlmcrm.components.data_table import data_table, export_button, simple_table
from mlmcrm.components.forms import (
    error_message,
    labelled_input,
    labelled_select,
    notice_message,
    section,
    value_choices,
)
from mlmcrm.components.job_progress import job_progress
from mlmcrm.components.layout import STAFF_NAV, app_shell
from mlmcrm.errors import NotFound, ValidationFailed
from mlmcrm.models.payouts import PAYOUT_METHODS, PAYOUT_STATUSES
from mlmcrm.services.payouts import (
    admin_views,
    batches,
    execution,
    holds,
    payout_settings,
    returns,
    sanctions,
)
from mlmcrm.services.platform import permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from mlmcrm.state.account import AccountState, account_handler
from mlmcrm.state.auth import PageOpener
from mlmcrm.state.handlers import NO_ACCESS, guarded
from mlmcrm.state.ids import parse_id
from mlmcrm.state.job_poller import JobPollerState
from mlmcrm.state.paged_list import Column, PagedListState, cells

MANAGE = "payouts.manage"
COMPLIANCE = "compliance.manage"
CLEAR = ("error", "message")
HELD_SHOWN = 100
"""The held list shows the largest balances first, this many."""
HOLDS_SHOWN = 200
"""The holds section shows the newest holds first, this many."""
ORIGINATOR_LABELS = {
    "company_name": "Company name on statements (16 characters at most)",
    "company_id": "Company id (from the bank, 10 characters)",
    "immediate_destination": "Bank routing number the file goes to",
    "immediate_destination_name": "That bank's name",
    "immediate_origin": "Immediate origin (from the bank, 10 characters)",
    "immediate_origin_name": "Immediate origin name",
    "odfi_routing": "Your bank's routing number (ODFI)",
    "company_entry_description": "Entry description (10 characters, COMMISSION if empty)",
}

BATCH_COLUMNS = (
    Column("id", "Batch"),
    Column("status", "Status"),
    Column("periods", "Periods"),
    Column("payees", "Payees", numeric=True),
    Column("amount", "Amount", numeric=True),
    Column("held", "Held", numeric=True),
    Column("held_amount", "Held amount", numeric=True),
    Column("built_by", "Built by"),
    Column("approved_by", "Approved by"),
    Column("created_at", "Built"),
    Column("executed_at", "Executed"),
)
PERIOD_COLUMNS = (
    Column("label", "Period"),
    Column("closed_at", "Closed"),
    Column("ledger_total", "Ledger total", numeric=True),
    Column("earners", "People", numeric=True),
)
METHOD_COLUMNS = (
    Column("method", "Method"),
    Column("payees", "Payees", numeric=True),
    Column("amount", "Amount", numeric=True),
    Column("fees", "Fees", numeric=True),
)
STATUS_COLUMNS = (
    Column("status", "Status now"),
    Column("payouts", "Payouts", numeric=True),
    Column("amount", "Amount", numeric=True),
)
HELD_REASON_COLUMNS = (
    Column("label", "Why"),
    Column("people", "People", numeric=True),
    Column("amount", "Their balances", numeric=True),
)
HELD_COLUMNS = (
    Column("code", "Distributor"),
    Column("name", "Name"),
    Column("balance", "Balance", numeric=True),
    Column("reasons", "Why"),
)
HOLD_COLUMNS = (
    Column("code", "Distributor"),
    Column("name", "Name"),
    Column("kind", "Kind"),
    Column("reason", "Reason"),
    Column("since", "Since"),
    Column("until", "Until"),
)


def _stay(state: object) -> None:
    """A refused approval stays on the page, with the refusal shown (no redirect)."""
    return None


def _ticked(value: Any) -> bool:
    return value in ("on", True, "true")


class PayoutAdminState(PageOpener, PagedListState, JobPollerState, AccountState):
    """The batches, the batch opened (with its payouts as a paged list), holds and settings."""

    batches: list[dict[str, str]] = []
    periods: list[dict[str, str]] = []
    batch_id: str = ""
    batch: dict[str, str] = {}
    by_method: list[dict[str, str]] = []
    by_status: list[dict[str, str]] = []
    held_reasons: list[dict[str, str]] = []
    held_rows: list[dict[str, str]] = []
    held_filter: str = ""
    holds_rows: list[dict[str, str]] = []
    holds_total: int = 0
    holds_search: str = ""
    release_id: str = ""
    returns_result: str = ""
    sanctions_info: str = ""
    policy: dict[str, str] = {}
    originator: dict[str, str] = {}
    settings_version: int = 0
    _job_id: int = 0

    list_permission: ClassVar[str] = MANAGE
    columns: ClassVar[tuple[Column, ...]] = (
        Column("code", "Distributor", sortable=True),
        Column("name", "Name", sortable=True),
        Column("method", "Method", sortable=True),
        Column("amount", "Amount", sortable=True, numeric=True),
        Column("fee", "Fee", numeric=True),
        Column("status", "Status", sortable=True),
        Column("failure_reason", "Why it failed"),
        Column("sent_at", "Sent", sortable=True),
    )
    filter_names: ClassVar[tuple[str, ...]] = ("batch", "q", "status", "method")
    export_name: ClassVar[str] = "payouts"

    # --- reading ---------------------------------------------------------------------------

    def _fetch(self, query: ListQuery, *, actor: Actor, session: Session):  # type: ignore[no-untyped-def]  # PagedListState's shape
        batch_id = parse_id(self.filters.get("batch", ""))
        if batch_id is None:
            return [], 0
        return admin_views.batch_payouts(
            session=session,
            actor=actor,
            batch_id=batch_id,
            status=self.filters.get("status", ""),
            method=self.filters.get("method", ""),
            search=self.filters.get("q", ""),
            query=query,
        )

    def _param(self, name: str) -> str:
        value = self.router.url.query_parameters.get(name, "")
        return value[0] if isinstance(value, list) and value else str(value or "")

    def _selected(self) -> int:
        wanted = parse_id(self.batch_id)
        if wanted is None:
            raise ValidationFailed("Open a batch first.")
        return wanted

    def _load_batches(self, *, actor: Actor, session: Session) -> None:
        self.batches = [
            {**cells(row, self.reader()), "id": str(row.id)}
            for row in admin_views.recent_batches(session=session, actor=actor)
        ]
        self.periods = [
            cells(row, self.reader())
            for row in admin_views.payable_periods(session=session, actor=actor)
        ]

    def _load_holds(self, *, actor: Actor, session: Session) -> None:
        rows, total = admin_views.active_holds(
            session=session, actor=actor, search=self.holds_search, limit=HOLDS_SHOWN
        )
        compliance = permissions.can(COMPLIANCE, actor=actor)
        self.holds_rows = [
            {
                **cells(row, self.reader()),
                "releasable": "yes" if row.kind != "compliance" or compliance else "",
            }
            for row in rows
        ]
        self.holds_total = total

    def _load_settings(self, *, session: Session) -> None:
        info = sanctions.list_info(session=session)
        self.sanctions_info = (
            f"Imported {self.reader().moment(info.imported_at)}: {info.entries:,} entries, "
            f"{info.names:,} names that payees are screened against."
            if info.imported_at is not None
            else "No sanctions list is imported yet: payees are not screened."
        )
        policy = payout_settings.get_policy(session=session)
        self.policy = {
            "currency": policy.currency,
            "threshold": format(policy.threshold, "f"),
            "cooling_days": str(policy.cooling_days),
            "forfeit_terminated": "yes" if policy.forfeit_terminated else "",
            "fee_stripe": format(policy.fee_stripe, "f"),
            "fee_ach": format(policy.fee_ach, "f"),
            "backup_withholding": "yes" if policy.backup_withholding else "",
        }
        originator = payout_settings.get_originator(session=session)
        self.originator = {
            field: str(getattr(originator, field, "") or "") if originator else ""
            for field in payout_settings.ORIGINATOR_FIELDS
        }
        self.settings_version += 1

    def _clear_batch(self) -> None:
        self.batch_id, self.batch = "", {}
        self.by_method, self.by_status, self.held_reasons, self.held_rows = [], [], [], []
        self.held_filter = ""
        self._reset_list()
        self.rows, self.total = [], 0

    def _show_batch(self, batch_id: int, *, actor: Actor, session: Session) -> None:
        """Read the batch's figures, held list and current page of payouts again."""
        detail = admin_views.batch_detail(session=session, actor=actor, batch_id=batch_id)
        self.batch_id = str(detail.id)
        reader = self.reader()
        self.batch = {
            "id": str(detail.id),
            "status": detail.status,
            "periods": detail.periods,
            "currency": detail.currency,
            "payees": f"{detail.payees:,}",
            "amount": reader.money(Decimal(str(detail.amount)), detail.currency),
            "fees": reader.money(Decimal(str(detail.fees)), detail.currency),
            "held": f"{detail.held:,}",
            "held_amount": reader.money(Decimal(str(detail.held_amount)), detail.currency),
            "built_by": detail.built_by,
            "approved_by": detail.approved_by,
            "cancelled_by": detail.cancelled_by,
            "created_at": reader.moment(detail.created_at),
            "approved_at": reader.moment(detail.approved_at),
            "executed_at": reader.moment(detail.executed_at),
            "cancelled_at": reader.moment(detail.cancelled_at),
            "ach": "yes" if detail.has_ach_file else "",
            "effective_date": detail.ach_effective_date,
            "new_sanctions_holds": str(detail.new_sanctions_holds),
            "mine": "yes" if detail.created_by_id == actor.user_id else "",
        }
        self.by_method = [cells(row, self.reader()) for row in detail.by_method]
        self.by_status = [cells(row, self.reader()) for row in detail.by_status]
        self.held_reasons = [cells(row, self.reader()) for row in detail.held_by_reason]
        self._load_held(actor=actor, session=session)
        if self.filters.get("batch") != self.batch_id:
            self._reset_list()
            self.filters = {"batch": self.batch_id}
        self._reload_list(actor=actor, session=session)

    def _load_held(self, *, actor: Actor, session: Session) -> None:
        found = batches.held_list(
            session=session,
            actor=actor,
            batch_id=self._selected(),
            reason=self.held_filter,
            limit=HELD_SHOWN,
        )
        reader = self.reader()
        self.held_rows = [
            {
                "id": str(row.distributor_id),
                "code": row.code,
                "name": row.name,
                "balance": reader.number(row.balance),
                "reasons": "; ".join(
                    holds.REASONS[code].label if code in holds.REASONS else code
                    for code in row.reasons
                ),
            }
            for row in found
        ]

    def _open(self, batch_id: int | None, *, actor: Actor, session: Session) -> None:
        self._clear_batch()
        if batch_id is None:
            raise NotFound("That payout batch does not exist.")
        self._show_batch(batch_id, actor=actor, session=session)

    def _after_batch_change(self, message: str, *, actor: Actor, session: Session) -> None:
        self.message = message
        self._load_batches(actor=actor, session=session)
        self._show_batch(self._selected(), actor=actor, session=session)

    def _confirm_first(self) -> rx.event.EventSpec:
        """Re-authenticate, then come back to this batch."""
        here = routes.ADMIN_PAYOUTS
        if parse_id(self.batch_id) is not None:
            here = f"{here}?batch={self.batch_id}"
        return rx.redirect(routes.with_next(routes.REAUTHENTICATE, here))

    @rx.event
    @guarded(MANAGE, clear=(*CLEAR, "returns_result"))
    def load(self, *, actor: Actor, session: Session) -> None:
        """Everything the page shows; the batch in ``?batch=`` (else the open one) opened."""
        self.release_id, self.holds_search = "", ""
        self._load_batches(actor=actor, session=session)
        self._load_holds(actor=actor, session=session)
        self._load_settings(session=session)
        wanted = self._param("batch")
        if wanted:
            self._open(parse_id(wanted), actor=actor, session=session)
            return
        self._clear_batch()
        current = batches.open_batch(session=session)
        if current is not None and current.id is not None:
            self._show_batch(current.id, actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=())
    def refresh(self, *, actor: Actor, session: Session) -> None:
        """Read the batches and the opened batch again (after an execution), keeping messages."""
        self._load_batches(actor=actor, session=session)
        if parse_id(self.batch_id) is not None:
            self._show_batch(self._selected(), actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def open_batch(self, batch_id: str, *, actor: Actor, session: Session) -> None:
        """Show one batch's detail."""
        self._open(parse_id(batch_id), actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def filter_held(self, reason: str, *, actor: Actor, session: Session) -> None:
        """Show the held list for one reason (empty: every reason)."""
        wanted = str(reason or "")[:40]
        if wanted and wanted not in holds.REASONS:
            raise ValidationFailed("Choose a reason from the list.")
        self.held_filter = wanted
        self._load_held(actor=actor, session=session)

    # --- batches ---------------------------------------------------------------------------

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def build_batch(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Build a draft batch for the periods ticked."""
        data = form_data if isinstance(form_data, dict) else {}
        chosen = [
            parse_id(str(key).removeprefix("period_"))
            for key, value in data.items()
            if str(key).startswith("period_") and _ticked(value)
        ]
        period_ids = [p for p in chosen if p is not None][: batches.MAX_PERIODS + 1]
        built = batches.build(session=session, actor=actor, period_ids=period_ids)
        totals = built.totals
        self.batch_id = str(built.id)
        self._after_batch_change(
            f"Built batch #{built.id}: {totals.get('payees', 0):,} payees, "
            f"{self.reader().money(Decimal(str(totals.get('amount', '0'))), built.currency)}; "
            f"{totals.get('held', 0):,} held. Another finance user approves it next.",
            actor=actor,
            session=session,
        )

    @rx.event
    @account_handler(MANAGE, refused=_stay)
    def approve(self, *, actor: Actor, session: Session) -> None:
        """Approve the opened draft batch (never its builder; re-authenticated)."""
        approved = batches.approve(session=session, actor=actor, batch_id=self._selected())
        self._after_batch_change(
            f"Batch #{approved.id} is approved: execute it to send the money.",
            actor=actor,
            session=session,
        )

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def cancel_batch(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Cancel the opened batch, with a reason; its periods can be batched again."""
        data = form_data if isinstance(form_data, dict) else {}
        cancelled = batches.cancel(
            session=session,
            actor=actor,
            batch_id=self._selected(),
            reason=str(data.get("reason", "")),
        )
        self._after_batch_change(
            f"Batch #{cancelled.id} is cancelled; its periods can be batched again.",
            actor=actor,
            session=session,
        )

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def execute(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Queue the execution of the opened approved batch, then follow it on its job row."""
        if self.job_active:
            return None
        batch_id = self._selected()
        job = execution.start(session=session, actor=actor, batch_id=batch_id)
        self._job_id = job.id
        self.message = f"Batch #{batch_id} is queued: the worker sends the money now."
        return PayoutAdminState.follow_execution  # type: ignore[return-value]  # Reflex turns a handler into its event

    @rx.event(background=True)
    async def follow_execution(self) -> rx.event.EventSpec | None:
        """Follow the queued execution on its job row and say how it ended."""
        async with self:
            actor = self.actor_for(MANAGE)
            job_id, self._job_id = self._job_id, 0
            if actor is None:
                self.error = NO_ACCESS
                return None
        if not job_id:
            return None
        job = await self._follow_job(actor=actor, job_id=job_id)
        async with self:
            if job is None:
                self.error = "No worker picked the batch up; is the worker running?"
            elif job.status == "succeeded" and job.result is not None:
                outcome = ", ".join(
                    f"{count:,} {status}"
                    for status, count in sorted(dict(job.result.get("outcome") or {}).items())
                )
                self.message = (
                    f"Batch #{job.result.get('batch_id', '')} is executed: "
                    f"{int(job.result.get('stripe', 0)):,} Stripe transfers and "
                    f"{int(job.result.get('ach', 0)):,} bank transfers ({outcome})."
                )
            else:
                self.error = job.error or "The execution failed."
        return PayoutAdminState.refresh  # type: ignore[return-value]  # Reflex turns a handler into its event

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def download_ach(self, *, actor: Actor, session: Session) -> rx.event.EventSpec | None:
        """Download the opened batch's ACH file for the bank (audited)."""
        found = admin_views.ach_file(session=session, actor=actor, batch_id=self._selected())
        return rx.download(data=found.data, filename=found.name, mime_type="text/plain")

    # --- bank returns ----------------------------------------------------------------------

    @rx.event
    @guarded(MANAGE, clear=(*CLEAR, "returns_result"))
    async def import_returns(
        self, files: list[rx.UploadFile], *, actor: Actor, session: Session
    ) -> None:
        """Apply the bank's ACH return file: each returned payout goes back to its wallet."""
        if not files:
            raise ValidationFailed("Choose the bank's return file first.")
        data = await files[0].read(returns.MAX_FILE_BYTES + 1)
        done = returns.import_return_file(session=session, actor=actor, content=data)
        self.returns_result = (
            f"{done.returned:,} payout(s) returned to the wallets; "
            f"{done.already:,} already applied before."
        )
        self._load_batches(actor=actor, session=session)
        if parse_id(self.batch_id) is not None:
            self._show_batch(self._selected(), actor=actor, session=session)

    # --- holds -----------------------------------------------------------------------------

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def search_holds(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Show the holds of distributors whose code or name holds the text."""
        data = form_data if isinstance(form_data, dict) else {}
        self.holds_search = str(data.get("q", "") or "").strip()[: admin_views.MAX_SEARCH_LENGTH]
        self.release_id = ""
        self._load_holds(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def hold_distributor(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Hold a distributor's payouts (a finance hold), with a reason."""
        data = form_data if isinstance(form_data, dict) else {}
        who = admin_views.find_distributor(
            session=session, actor=actor, code=str(data.get("code", ""))
        )
        holds.set_hold(
            session=session,
            actor=actor,
            distributor_id=who.id,
            kind="finance",
            reason=str(data.get("reason", "")),
        )
        self.message = f"Payouts of {who.code} ({who.name or 'no name'}) are held until released."
        self._load_holds(actor=actor, session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR, unit_of_work=False)
    def choose_release(self, hold_id: str, *, actor: Actor) -> None:
        """Open the release form of one hold (nothing changes until it is confirmed)."""
        wanted = parse_id(str(hold_id))
        self.release_id = str(wanted) if wanted is not None else ""

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def release_hold(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Release the chosen hold, with a note."""
        wanted = parse_id(self.release_id)
        if wanted is None:
            raise NotFound("Choose the hold to release.")
        data = form_data if isinstance(form_data, dict) else {}
        holds.release_hold(
            session=session, actor=actor, hold_id=wanted, note=str(data.get("note", ""))
        )
        self.release_id = ""
        self.message = "The hold is released."
        self._load_holds(actor=actor, session=session)

    # --- sanctions list and settings -------------------------------------------------------

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    async def import_sanctions(
        self, files: list[rx.UploadFile], *, actor: Actor, session: Session
    ) -> None:
        """Replace the sanctions list with OFAC's ``sdn.csv`` (and its ``alt.csv``)."""
        if len(files) > 2:
            raise ValidationFailed("Choose at most two files: sdn.csv and alt.csv.")
        sdn: bytes | None = None
        alt: bytes | None = None
        for upload in files:
            data = await upload.read(sanctions.MAX_FILE_BYTES + 1)
            if "alt" in (upload.name or "").lower():
                if alt is not None:
                    raise ValidationFailed("Choose one alt.csv only.")
                alt = data
            elif sdn is not None:
                raise ValidationFailed("Choose one sdn.csv only (the aliases file is alt.csv).")
            else:
                sdn = data
        if sdn is None:
            raise ValidationFailed("Choose OFAC's sdn.csv (and alt.csv with the aliases).")
        info = sanctions.import_list(session=session, actor=actor, sdn_csv=sdn, alt_csv=alt)
        self.message = (
            f"Sanctions list imported: {info.entries:,} entries, {info.names:,} names to screen."
        )
        self._load_settings(session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def save_policy(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Change the payout policy (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        payout_settings.set_policy(
            session=session,
            actor=actor,
            currency=str(data.get("currency", "")),
            threshold=str(data.get("threshold", "")),
            cooling_days=str(data.get("cooling_days", "")),
            forfeit_terminated=_ticked(data.get("forfeit_terminated")),
            fee_stripe=str(data.get("fee_stripe", "")),
            fee_ach=str(data.get("fee_ach", "")),
            backup_withholding=_ticked(data.get("backup_withholding")),
        )
        self.message = "The payout policy is saved; the next batch follows it."
        self._load_settings(session=session)

    @rx.event
    @guarded(MANAGE, clear=CLEAR)
    def save_originator(self, form_data: dict, *, actor: Actor, session: Session) -> None:
        """Set the company's bank details for ACH files (audited)."""
        data = form_data if isinstance(form_data, dict) else {}
        payout_settings.set_originator(
            session=session,
            actor=actor,
            **{field: str(data.get(field, "")) for field in payout_settings.ORIGINATOR_FIELDS},
        )
        self.message = "The bank details for ACH files are saved."
        self._load_settings(session=session)


# --- the page --------------------------------------------------------------------------------


def _hint(*parts: rx.Component | rx.Var | str) -> rx.Component:
    return rx.text(*parts, size="2", color=rx.color("gray", 11))


def _open_button(row: rx.Var) -> rx.Component:
    return rx.button(
        "Open",
        on_click=PayoutAdminState.open_batch(row["id"]),
        size="1",
        variant="soft",
        aria_label="Open batch " + row["id"].to(str),
        class_name="touch-target",
    )


def _batches() -> rx.Component:
    return section(
        "Batches",
        simple_table(
            BATCH_COLUMNS,
            PayoutAdminState.batches,
            row_id="batch-row-",
            actions=_open_button,
            empty_text="No batch yet: build the first one below.",
            table_id="batches",
        ),
    )


def _period_choice(period: rx.Var) -> rx.Component:
    return rx.el.label(
        rx.el.input(type="checkbox", name="period_" + period["id"].to(str), default_checked=True),
        " ",
        rx.text.strong(period["label"]),
        " · ledger ",
        period["ledger_total"],
        " · ",
        period["earners"],
        " people",
        class_name="touch-target",
        id="period-choice-" + period["id"].to(str),
    )


def _build() -> rx.Component:
    return section(
        "Build a batch",
        rx.cond(
            PayoutAdminState.periods.length() > 0,
            rx.form(
                rx.vstack(
                    _hint(
                        "Closed periods no batch pays yet. A batch pays everyone payable their "
                        "balance as of these periods; earlier unpaid periods must come along."
                    ),
                    rx.foreach(PayoutAdminState.periods, _period_choice),
                    rx.button("Build batch", type="submit", class_name="touch-target"),
                    width="100%",
                ),
                on_submit=PayoutAdminState.build_batch,
                reset_on_submit=False,
                key=PayoutAdminState.periods.length().to(str),
            ),
            _hint("Every closed period is in a batch already."),
        ),
    )


def _reason_form(
    label: str, handler: rx.EventHandler, *, field: str, field_id: str
) -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled_input(
                "Reason" if field == "reason" else "Note", field, id=field_id, required=True
            ),
            rx.button(label, type="submit", variant="soft", class_name="touch-target"),
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _batch_actions() -> rx.Component:
    b = PayoutAdminState.batch
    return rx.vstack(
        rx.hstack(
            rx.cond(
                b["status"] == "draft",
                rx.button(
                    rx.icon("check", size=16),
                    "Approve",
                    on_click=PayoutAdminState.approve,
                    class_name="touch-target",
                    id="approve-batch",
                ),
            ),
            rx.cond(
                (b["status"] == "approved") | (b["status"] == "executing"),
                rx.button(
                    rx.icon("send", size=16),
                    "Execute",
                    on_click=PayoutAdminState.execute,
                    loading=PayoutAdminState.job_active,
                    class_name="touch-target",
                    id="execute-batch",
                ),
            ),
            rx.cond(
                b["ach"] != "",
                rx.button(
                    rx.icon("download", size=16),
                    "Download ACH file",
                    on_click=PayoutAdminState.download_ach,
                    variant="soft",
                    class_name="touch-target",
                    id="download-ach",
                ),
            ),
            wrap="wrap",
        ),
        rx.cond(
            (b["status"] == "draft") & (b["mine"] != ""),
            _hint("You built this batch: another finance user approves it."),
        ),
        rx.cond(
            b["status"] == "draft",
            _hint("Approving asks for your password again first."),
        ),
        rx.cond(
            (b["status"] == "draft") | (b["status"] == "approved"),
            _reason_form(
                "Cancel batch",
                PayoutAdminState.cancel_batch,
                field="reason",
                field_id="cancel-reason",
            ),
        ),
        job_progress(PayoutAdminState, element_id="execution-progress"),
        width="100%",
    )


def _held_filter() -> rx.Component:
    return rx.el.select(
        rx.el.option("Every reason", value=""),
        *[rx.el.option(reason.label, value=code) for code, reason in holds.REASONS.items()],
        value=PayoutAdminState.held_filter,
        on_change=PayoutAdminState.filter_held,
        aria_label="Held for",
        style={"padding": "0.4rem", "maxWidth": "100%"},
        class_name="touch-target",
    )


def _payouts_filter() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.input(type="hidden", name="batch", value=PayoutAdminState.batch_id),
            labelled_input("Code or name", "q", id="payout-search"),
            labelled_select(
                "Status",
                "status",
                value_choices(PAYOUT_STATUSES),
                any_label="Any status",
                id="payout-status-filter",
            ),
            labelled_select(
                "Method",
                "method",
                value_choices(PAYOUT_METHODS),
                any_label="Any method",
                id="payout-method-filter",
            ),
            rx.button("Find", type="submit", class_name="touch-target"),
            export_button(PayoutAdminState),
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=PayoutAdminState.apply_filters,
        reset_on_submit=False,
        key=PayoutAdminState.batch_id,
    )


def _detail() -> rx.Component:
    b = PayoutAdminState.batch
    return section(
        "Batch detail",
        rx.heading("Batch #", b["id"], " · ", b["status"], size="3", id="batch-heading"),
        _hint(
            b["periods"],
            " · ",
            b["payees"],
            " payees, ",
            b["amount"],
            " (fees ",
            b["fees"],
            ") · ",
            b["held"],
            " held with ",
            b["held_amount"],
        ),
        _hint(
            "Built by ",
            b["built_by"],
            " on ",
            b["created_at"],
            rx.cond(b["approved_by"] != "", " · approved by " + b["approved_by"], ""),
            rx.cond(b["approved_at"] != "", " on " + b["approved_at"], ""),
            rx.cond(b["executed_at"] != "", " · executed " + b["executed_at"], ""),
            rx.cond(b["cancelled_by"] != "", " · cancelled by " + b["cancelled_by"], ""),
            rx.cond(b["effective_date"] != "", " · ACH effective " + b["effective_date"], ""),
        ),
        rx.cond(
            b["new_sanctions_holds"] != "0",
            rx.callout(
                b["new_sanctions_holds"]
                + " payee(s) matched the sanctions list when the batch was built and are held "
                "for review (see Holds).",
                icon="shield-alert",
                color_scheme="amber",
                width="100%",
            ),
        ),
        _batch_actions(),
        rx.heading("By payout method", size="3"),
        simple_table(METHOD_COLUMNS, PayoutAdminState.by_method, empty_text="Nobody is paid."),
        rx.heading("Payouts by status now", size="3"),
        simple_table(STATUS_COLUMNS, PayoutAdminState.by_status, empty_text="No payout."),
        rx.heading("Held, by reason", size="3"),
        simple_table(
            HELD_REASON_COLUMNS,
            PayoutAdminState.held_reasons,
            empty_text="Nobody with money is held.",
            table_id="held-reasons",
        ),
        rx.hstack(rx.text("Show", size="2"), _held_filter(), align="center", wrap="wrap"),
        simple_table(
            HELD_COLUMNS,
            PayoutAdminState.held_rows,
            row_id="held-",
            empty_text="Nobody is held for this reason.",
            table_id="held-list",
        ),
        _hint(f"The largest {HELD_SHOWN} balances are shown."),
        rx.heading("Payouts", size="3"),
        _payouts_filter(),
        data_table(
            PayoutAdminState,
            row_id="payout-row-",
            empty_text="No payout matches: clear the search, or choose “Any status” and “Any "
            "method”.",
            table_id="batch-payouts",
        ),
    )


def _returns() -> rx.Component:
    return section(
        "Bank returns",
        _hint(
            "Upload the return file from the bank: each returned payout goes back to its "
            "wallet, and accounts that cannot take credits must be entered again."
        ),
        rx.upload(
            rx.vstack(
                rx.icon("upload", size=20),
                rx.text("Drop the return file here, or tap to choose it", size="2"),
                align="center",
            ),
            id="return-file",
            max_files=1,
            border="1px dashed var(--gray-7)",
            padding="1rem",
            width="100%",
        ),
        rx.foreach(rx.selected_files("return-file"), lambda name: rx.text(name, size="2")),
        rx.button(
            "Apply return file",
            on_click=PayoutAdminState.import_returns(rx.upload_files(upload_id="return-file")),
            class_name="touch-target",
        ),
        rx.cond(
            PayoutAdminState.returns_result != "",
            rx.text(PayoutAdminState.returns_result, id="returns-result"),
        ),
    )


def _release_button(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["releasable"] != "",
        rx.button(
            "Release",
            on_click=PayoutAdminState.choose_release(row["id"]),
            size="1",
            variant="soft",
            class_name="touch-target",
        ),
    )


def _holds() -> rx.Component:
    return section(
        "Holds",
        rx.form(
            rx.hstack(
                labelled_input("Code or name", "q", id="hold-search"),
                rx.button("Find", type="submit", class_name="touch-target"),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=PayoutAdminState.search_holds,
            reset_on_submit=False,
        ),
        rx.cond(
            PayoutAdminState.release_id != "",
            _reason_form(
                "Release hold",
                PayoutAdminState.release_hold,
                field="note",
                field_id="release-note",
            ),
        ),
        simple_table(
            HOLD_COLUMNS,
            PayoutAdminState.holds_rows,
            row_id="hold-",
            actions=_release_button,
            empty_text="No payout is on hold.",
            table_id="holds",
        ),
        _hint(
            PayoutAdminState.holds_total.to_string(),
            f" hold(s) in force; the newest {HOLDS_SHOWN} are shown.",
        ),
        rx.heading("Hold a distributor's payouts", size="3"),
        rx.form(
            rx.hstack(
                labelled_input("Distributor code", "code", id="hold-code", required=True),
                labelled_input("Reason", "reason", id="hold-reason", required=True),
                rx.button("Hold payouts", type="submit", class_name="touch-target"),
                align="end",
                wrap="wrap",
                width="100%",
            ),
            on_submit=PayoutAdminState.hold_distributor,
            reset_on_submit=True,
        ),
        rx.text(
            "Identity documents are reviewed in the ",
            rx.link("identity checks queue", href=routes.ADMIN_IDENTITY),
            " (compliance); a payee's tax forms and 1099-NEC are under ",
            rx.link("Tax forms", href=routes.ADMIN_TAX),
            ".",
            size="2",
        ),
    )


def _sanctions() -> rx.Component:
    return section(
        "Sanctions list",
        rx.text(PayoutAdminState.sanctions_info, id="sanctions-info"),
        _hint(
            "Import OFAC's SDN list (sdn.csv, and alt.csv with the aliases) from the Treasury's "
            "website. It replaces the list whole; every batch screens its payees against it."
        ),
        rx.upload(
            rx.vstack(
                rx.icon("upload", size=20),
                rx.text("Drop sdn.csv (and alt.csv) here, or tap to choose them", size="2"),
                align="center",
            ),
            id="sanctions-files",
            max_files=2,
            accept={"text/csv": [".csv"]},
            border="1px dashed var(--gray-7)",
            padding="1rem",
            width="100%",
        ),
        rx.foreach(rx.selected_files("sanctions-files"), lambda name: rx.text(name, size="2")),
        rx.button(
            "Import list",
            on_click=PayoutAdminState.import_sanctions(
                rx.upload_files(upload_id="sanctions-files")
            ),
            class_name="touch-target",
        ),
    )


def _policy() -> rx.Component:
    p = PayoutAdminState.policy
    return rx.form(
        rx.vstack(
            rx.heading("Payout policy", size="3"),
            rx.hstack(
                labelled_input(
                    "Currency", "currency", id="policy-currency", default_value=p["currency"]
                ),
                labelled_input(
                    "Threshold", "threshold", id="policy-threshold", default_value=p["threshold"]
                ),
                labelled_input(
                    "Cooling days after bank details change",
                    "cooling_days",
                    id="policy-cooling",
                    default_value=p["cooling_days"],
                ),
                labelled_input(
                    "Fee per Stripe payout",
                    "fee_stripe",
                    id="policy-fee-stripe",
                    default_value=p["fee_stripe"],
                ),
                labelled_input(
                    "Fee per bank transfer",
                    "fee_ach",
                    id="policy-fee-ach",
                    default_value=p["fee_ach"],
                ),
                wrap="wrap",
                width="100%",
            ),
            rx.el.label(
                rx.el.input(
                    type="checkbox",
                    name="forfeit_terminated",
                    default_checked=p["forfeit_terminated"] != "",
                ),
                " Terminated accounts forfeit their unpaid balance",
                class_name="touch-target",
            ),
            rx.el.label(
                rx.el.input(
                    type="checkbox",
                    name="backup_withholding",
                    default_checked=p["backup_withholding"] != "",
                ),
                " US payees without a tax id are paid less 24% backup withholding (instead of"
                " being held)",
                class_name="touch-target",
            ),
            rx.button("Save policy", type="submit", class_name="touch-target"),
            width="100%",
        ),
        on_submit=PayoutAdminState.save_policy,
        reset_on_submit=False,
        key="policy-" + PayoutAdminState.settings_version.to_string(),
        width="100%",
    )


def _originator() -> rx.Component:
    o = PayoutAdminState.originator
    return rx.form(
        rx.vstack(
            rx.heading("Company bank details for ACH files", size="3"),
            _hint("From the company's ACH agreement with its bank."),
            *[
                labelled_input(
                    label,
                    field,
                    id="originator-" + field.replace("_", "-"),
                    default_value=o[field],
                )
                for field, label in ORIGINATOR_LABELS.items()
            ],
            rx.button("Save bank details", type="submit", class_name="touch-target"),
            width="100%",
        ),
        on_submit=PayoutAdminState.save_originator,
        reset_on_submit=False,
        key="originator-" + PayoutAdminState.settings_version.to_string(),
        width="100%",
    )


def _settings() -> rx.Component:
    return section("Settings", _policy(), rx.separator(), _originator())


def payouts_admin_page() -> rx.Component:
    """The page."""
    return app_shell(
        rx.vstack(
            error_message(PayoutAdminState.error),
            notice_message(PayoutAdminState.message),
            _batches(),
            _build(),
            rx.cond(PayoutAdminState.batch_id != "", _detail()),
            _returns(),
            _holds(),
            _sanctions(),
            _settings(),
            spacing="4",
            width="100%",
        ),
        title="Payouts",
        nav=STAFF_NAV,
    )
