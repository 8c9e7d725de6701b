"""How a distributor is paid: a Stripe connected account, or a US bank account paid by ACH.

Bank details are encrypted (AES-256-GCM, as every sensitive field) and only their last 4 digits
are shown. Changing them needs a fresh re-authentication, tells the person through the
notification service (so a hijacked account cannot quietly redirect commissions) and holds the
next payout for the company's cooling period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.integrations import stripe_connect
from mlmcrm.models import Distributor, PayoutMethod, User
from mlmcrm.models.base import utcnow
from mlmcrm.services.accounts import auth
from mlmcrm.services.messaging import outbox
from mlmcrm.services.payouts import holds, identity, nacha
from mlmcrm.services.payouts.payout_settings import get_policy
from mlmcrm.services.platform import audit, crypto, permissions
from mlmcrm.services.platform.actor import Actor

ROUTING_FIELD = "payout_methods.routing"
ACCOUNT_FIELD = "payout_methods.account"


@dataclass(frozen=True)
class MethodPublic:
    """A payout method as its owner sees it (never the full numbers)."""

    kind: str
    label: str
    ready: bool
    holder_name: str
    account_last4: str
    routing_last4: str
    account_type: str
    business: bool
    returned_code: str
    changed_at: datetime | None


def _own_distributor(*, actor: Actor) -> int:
    permissions.require("back_office.view", actor=actor)
    if actor.distributor_id is None:
        raise PermissionDenied("Only distributors have a payout method.")
    return actor.distributor_id


def view(*, session: Session, distributor_id: int) -> MethodPublic | None:
    """The distributor's payout method, or None."""
    row = session.get(PayoutMethod, distributor_id)
    if row is None:
        return None
    if row.kind == "stripe":
        label = "Stripe" + ("" if row.stripe_ready else " (setup not finished)")
    else:
        label = f"Bank account ending {(row.account_last4 or '').strip()}"
    return MethodPublic(
        kind=row.kind,
        label=label,
        ready=row.stripe_ready if row.kind == "stripe" else row.returned_code is None,
        holder_name=row.holder_name or "",
        account_last4=(row.account_last4 or "").strip(),
        routing_last4=(row.routing_last4 or "").strip(),
        account_type=row.account_type,
        business=row.business,
        returned_code=row.returned_code or "",
        changed_at=row.changed_at,
    )


def _announce_change(distributor: Distributor, what: str, *, session: Session) -> None:
    user = session.get(User, distributor.user_id)
    if user is not None:
        outbox.notify(
            session=session,
            kind="payouts.method_changed",
            user_id=user.id,  # type: ignore[arg-type]  # a stored row has an id
            params={"method": what, "changed_at": utcnow().strftime("%Y-%m-%d %H:%M UTC")},
        )


def set_bank_account(
    *,
    session: Session,
    actor: Actor,
    holder_name: str,
    routing_number: str,
    account_number: str,
    account_type: str,
    business: bool = False,
) -> MethodPublic:
    """Pay the actor by ACH to this US bank account (re-authenticated, notified, cooling hold).

    Raises:
        PermissionDenied: Not a distributor.
        ReauthenticationRequired: Not re-authenticated in the last minutes.
        ValidationFailed: A routing number failing its checksum, a malformed account number,
            no holder name or an unknown account type; nothing is changed.
    """
    distributor_id = _own_distributor(actor=actor)
    auth.require_fresh_authentication(session=session, actor=actor)
    name = " ".join((holder_name or "").split())
    if not 2 <= len(name) <= 100:
        raise ValidationFailed("Enter the account holder's name as the bank knows it.")
    routing = nacha.check_routing_number(routing_number)
    account = nacha.check_account_number(account_number)
    if account_type not in ("checking", "savings"):
        raise ValidationFailed("Choose a checking or a savings account.")
    distributor = session.get(Distributor, distributor_id)
    if distributor is None:
        raise NotFound("Your distributor record is missing.")
    existing = session.get(PayoutMethod, distributor_id)
    row = existing or PayoutMethod(distributor_id=distributor_id, kind="ach")
    before = {"kind": row.kind, "account_last4": row.account_last4} if existing else None
    row.kind = "ach"
    row.holder_name = name
    row.business = bool(business)
    row.routing_enc = crypto.encrypt_field(routing, field=ROUTING_FIELD)
    row.routing_last4 = crypto.last4(routing)
    row.account_enc = crypto.encrypt_field(account, field=ACCOUNT_FIELD)
    row.account_last4 = crypto.last4(account)
    row.account_type = account_type
    row.returned_code = None
    row.changed_at = utcnow()
    session.add(row)
    session.flush()
    until = holds.start_cooling(
        session=session,
        actor=actor,
        distributor_id=distributor_id,
        policy=get_policy(session=session),
    )
    audit.record(
        session=session,
        actor=actor,
        action="payout_method.bank_account_set",
        entity_type="distributor",
        entity_id=distributor_id,
        before=before,
        after={
            "kind": "ach",
            "routing": "changed",
            "account": "changed",
            "account_last4": row.account_last4,
            "cooling_until": until,
        },
    )
    _announce_change(distributor, f"bank account ending {row.account_last4}", session=session)
    if before is not None:
        identity.require_again(
            session=session, actor=actor, distributor_id=distributor_id, trigger="payout_method"
        )
    return view(session=session, distributor_id=distributor_id)  # type: ignore[return-value]  # just stored


def start_stripe_onboarding(
    *, session: Session, actor: Actor, return_url: str, refresh_url: str
) -> str:
    """Create (once) the actor's Stripe connected account; returns the onboarding link.

    Raises:
        PermissionDenied: Not a distributor.
        ReauthenticationRequired: Switching from a bank account without re-authenticating.
        PaymentsNotConfigured, PaymentFailed: Stripe is not set up or refused.
    """
    distributor_id = _own_distributor(actor=actor)
    distributor = session.get(Distributor, distributor_id)
    user = session.get(User, distributor.user_id) if distributor else None
    if distributor is None or user is None:
        raise NotFound("Your distributor record is missing.")
    row = session.get(PayoutMethod, distributor_id)
    replaced = row is not None and row.kind == "ach"
    if replaced:
        auth.require_fresh_authentication(session=session, actor=actor)
    if row is None or not row.stripe_account_id:
        account_id = stripe_connect.create_account(
            email=user.email,
            country=(distributor.country or "US").strip(),
            business=False,
            idempotency_key=f"connect-account-{distributor_id}",
        )
        row = row or PayoutMethod(distributor_id=distributor_id, kind="stripe")
        row.stripe_account_id = account_id
        row.stripe_ready = False
    switched = row.kind != "stripe"
    row.kind = "stripe"
    row.changed_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="payout_method.stripe_started",
        entity_type="distributor",
        entity_id=distributor_id,
        after={"kind": "stripe", "stripe_account_id": row.stripe_account_id},
    )
    if switched:
        holds.start_cooling(
            session=session,
            actor=actor,
            distributor_id=distributor_id,
            policy=get_policy(session=session),
        )
        _announce_change(distributor, "Stripe", session=session)
        if replaced:
            identity.require_again(
                session=session,
                actor=actor,
                distributor_id=distributor_id,
                trigger="payout_method",
            )
    return stripe_connect.account_link(
        account_id=row.stripe_account_id,
        refresh_url=refresh_url,
        return_url=return_url,
    )


def refresh_stripe(*, session: Session, stripe_account_id: str) -> bool | None:
    """Ask Stripe whether a connected account can receive transfers now; returns its state.

    Called when the person comes back from onboarding and on Stripe's ``account.updated``
    event. None when no payout method has this account.
    """
    method = session.exec(
        select(PayoutMethod).where(PayoutMethod.stripe_account_id == stripe_account_id)
    ).first()
    if method is None:
        return None
    status = stripe_connect.account_ready(stripe_account_id)
    if method.stripe_ready != status.ready:
        method.stripe_ready = status.ready
        session.add(method)
        audit.record(
            session=session,
            actor=Actor.system("stripe"),
            action="payout_method.stripe_status",
            entity_type="distributor",
            entity_id=method.distributor_id,
            after={"ready": status.ready},
        )
    return status.ready


def refresh_own_stripe(*, session: Session, actor: Actor) -> bool | None:
    """Back from Stripe's onboarding: ask Stripe whether the actor's account is ready now."""
    distributor_id = _own_distributor(actor=actor)
    row = session.get(PayoutMethod, distributor_id)
    if row is None or row.kind != "stripe" or not row.stripe_account_id:
        return None
    return refresh_stripe(session=session, stripe_account_id=row.stripe_account_id)
