"""Re-encrypt every encrypted column with the current field-encryption key.

To rotate: put a new key first in ``FIELD_ENCRYPTION_KEY`` (keeping the old ones after it), run
``python -m mlmcrm rotate-keys``, then drop the old keys once it reports nothing left on them.
"""

from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlmodel import Session

from mlmcrm.services.payouts import identity, methods
from mlmcrm.services.platform import audit, crypto
from mlmcrm.services.platform.actor import Actor

ENCRYPTED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    # table, key column, encrypted column, field name bound to the ciphertext
    ("users", "id", "totp_secret_enc", "users.totp_secret"),
    ("totp_enrolments", "user_id", "secret_enc", "totp_enrolments.secret"),
    ("user_profiles", "user_id", "tax_id_enc", "user_profiles.tax_id"),
    ("user_profiles", "user_id", "bank_account_enc", "user_profiles.bank_account"),
    ("user_profiles", "user_id", "date_of_birth_enc", "user_profiles.date_of_birth"),
    ("contacts", "id", "private_notes_enc", "contacts.private_notes"),
    ("contact_activities", "id", "body_enc", "contact_activities.body_enc"),
    ("messages", "id", "body_enc", "messages.body"),
    ("payout_methods", "distributor_id", "routing_enc", methods.ROUTING_FIELD),
    ("payout_methods", "distributor_id", "account_enc", methods.ACCOUNT_FIELD),
    ("payouts", "id", "ach_routing_enc", methods.ROUTING_FIELD),
    ("payouts", "id", "ach_account_enc", methods.ACCOUNT_FIELD),
)
BATCH_SIZE = 500


def rotate_keys(*, session: Session, actor: Actor) -> dict[str, int]:
    """Re-encrypt, with the current key, every value encrypted with another one.

    Run it as the schema owner (it reads every owner's rows). Values are read in batches by key
    so a large table does not sit in memory.

    Args:
        session: An owner-role unit of work; the caller commits.
        actor: Who ran it (``cli``), for the audit row.

    Returns:
        How many values were re-encrypted, per ``table.column``.

    Raises:
        crypto.DecryptionError: A value's key is no longer configured or the value was altered.
    """
    current = crypto.current_key_id()
    counts: dict[str, int] = {}
    for table, key, column, field in ENCRYPTED_COLUMNS:
        moved = 0
        last_key = None
        while True:
            rows = session.execute(
                text(
                    f"SELECT {key} AS k, {column} AS v FROM {table}"
                    f" WHERE {column} IS NOT NULL AND split_part({column}, ':', 2) <> :current"
                    + (f" AND {key} > :after" if last_key is not None else "")
                    + f" ORDER BY {key} LIMIT {BATCH_SIZE}"
                ),
                {"current": current, "after": last_key},
            ).all()
            if not rows:
                break
            for row in rows:
                session.execute(
                    text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"),
                    {"v": crypto.reencrypt(row.v, field=field), "k": row.k},
                )
            moved += len(rows)
            last_key = rows[-1].k
        counts[f"{table}.{column}"] = moved
    counts.update(_rotate_job_values(current, session=session))
    counts["identity_checks.documents"] = identity.rotate_documents(
        session=session, current_key=current
    )
    audit.record(
        session=session,
        actor=actor,
        action="keys.rotated",
        entity_type="encryption_key",
        entity_id=current,
        after=counts,
    )
    return counts


SEALED_REQUESTS = "jobs.params.sealed"
"""Sign-ups and reset requests waiting for the worker keep their data encrypted likewise."""


def _job_values() -> dict[str, tuple[tuple[str, ...], str, str]]:
    """Encrypted job parameters: name → (job kinds, parameter, field bound to the ciphertext)."""
    from mlmcrm.services.accounts import accounts

    return {
        SEALED_REQUESTS: (
            (accounts.SIGNUP_JOB, accounts.PASSWORD_RESET_JOB),
            "sealed",
            accounts.SEALED_FIELD,
        ),
    }


def _on_old_keys(param: str) -> str:
    return (
        f"FROM jobs WHERE kind IN :kinds AND params ? '{param}'"
        f" AND split_part(params ->> '{param}', ':', 2) <> :current"
    )


def _rotate_job_values(current: str, *, session: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, (kinds, param, field) in _job_values().items():
        rows = session.execute(
            text(f"SELECT id, params ->> '{param}' AS v {_on_old_keys(param)}").bindparams(  # noqa: S608
                bindparam("kinds", expanding=True)
            ),
            {"current": current, "kinds": list(kinds)},
        ).all()
        for row in rows:
            session.execute(
                text(
                    f"UPDATE jobs SET params = jsonb_set(params, '{{{param}}}',"
                    " to_jsonb(CAST(:v AS text))) WHERE id = :id"
                ),
                {"v": crypto.reencrypt(row.v, field=field), "id": row.id},
            )
        counts[name] = len(rows)
    return counts


def values_on_old_keys(*, session: Session) -> int:
    """How many encrypted values are not on the current key."""
    current = crypto.current_key_id()
    waiting_jobs = sum(
        session.execute(
            text(f"SELECT count(*) {_on_old_keys(param)}").bindparams(  # noqa: S608
                bindparam("kinds", expanding=True)
            ),
            {"current": current, "kinds": list(kinds)},
        ).scalar_one()
        for kinds, param, _field in _job_values().values()
    )
    return waiting_jobs + sum(
        session.execute(
            text(
                f"SELECT count(*) FROM {table}"
                f" WHERE {column} IS NOT NULL AND split_part({column}, ':', 2) <> :current"
            ),
            {"current": current},
        ).scalar_one()
        for table, _key, column, _field in ENCRYPTED_COLUMNS
    )
