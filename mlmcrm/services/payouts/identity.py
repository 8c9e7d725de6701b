"""Identity verification before the first payout: a reviewed document, or a hosted provider.

**Manual by default.** A distributor uploads a photo or scan of an identity document. Its type
is read from its bytes (JPEG, PNG, WebP or PDF; a PDF with scripts, launch actions or embedded
files is refused), it is encrypted with AES-256-GCM (:func:`crypto.encrypt_bytes`, bound to the
person and the file) and kept in the file storage (a folder, or the S3 bucket). Nobody but a
reviewer (the ``compliance.manage`` permission) ever gets it back, and each opening is audited.
The reviewer approves, or rejects with a reason; the person is told either way.

**A hosted provider** (when ``KYC_PROVIDER_URL`` is set): the person is sent to the provider's
page; its signed webhook gives the result, each event once.

**Checked again**: when the legal name on the tax certification changes, or the payout method
is replaced, a verified identity is set back to unverified with the reason
(``user_profiles.identity_recheck``) and the person is told. Until then payouts hold.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import text
from sqlmodel import Session, col, select

from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.integrations import identity_provider, storage
from mlmcrm.models import Distributor, IdentityCheck, TaxCertification, User, UserProfile
from mlmcrm.models.base import utcnow
from mlmcrm.models.tax import DOCUMENT_TYPES
from mlmcrm.services.messaging import outbox
from mlmcrm.services.platform import audit, crypto, listing, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery

DOCUMENT_FOLDER = "identity"
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MIN_DOCUMENT_BYTES = 2 * 1024
MIN_IMAGE_SIDE = 300
"""A photo narrower or lower than this cannot show a document legibly."""

DOCUMENT_LABELS = {
    "passport": "Passport",
    "driving_licence": "Driving licence",
    "national_id": "National identity card",
    "residence_permit": "Residence permit",
}
TRIGGER_LABELS = {
    "first": "First check",
    "legal_name": "The legal name changed",
    "payout_method": "The payout method changed",
}
STATUS_LABELS = {
    "pending": "Waiting for review",
    "approved": "Approved",
    "rejected": "Rejected",
    "expired": "Expired at the provider",
    "withdrawn": "Replaced by a newer upload",
}
_TYPES = {
    # content type: (name, file name endings)
    "image/jpeg": ("JPEG image", (".jpg", ".jpeg", ".jpe", ".jfif")),
    "image/png": ("PNG image", (".png",)),
    "image/webp": ("WebP image", (".webp",)),
    "application/pdf": ("PDF", (".pdf",)),
}
_PDF_NAME_END = rb"(?=[\x00\t\n\x0c\r ()<>\[\]{}/%]|\Z)"
_PDF_ACTIVE = re.compile(
    rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|EF|FileAttachment|RichMedia|AA"
    # An open action that is a destination (``[3 0 R /FitH null]``: which page, what zoom)
    # only sets the first view, as many PDF makers write; any other one is an action.
    rb"|OpenAction(?!\s*\[))" + _PDF_NAME_END
)
_PDF_ENCRYPTED = re.compile(rb"/Encrypt" + _PDF_NAME_END)
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
MAX_PDF_INFLATED = 64 * 1024 * 1024
"""How much a PDF's compressed streams may hold in all, to be read through for scripts."""

PROVIDER_ACTOR = Actor.system("identity provider")


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _pdf_names(data: bytes) -> bytes:
    """``data`` with the ``#xx`` escapes of PDF names undone (``/J#61vaScript`` is a script)."""
    return _PDF_NAME_ESCAPE.sub(lambda match: bytes([int(match[1], 16)]), data)


def _pdf_parts(data: bytes) -> Iterator[bytes]:
    """The PDF's bytes, then each of its Flate-compressed streams inflated.

    Objects (the catalog, actions) may be kept compressed in object streams, so those are read
    too. A stream is inflated up to its own end, through any ``endstream`` look-alike inside it.

    Raises:
        ValidationFailed: The compressed streams hold more than :data:`MAX_PDF_INFLATED`.
    """
    yield data
    budget = MAX_PDF_INFLATED
    view = memoryview(data)
    for match in _PDF_STREAM.finditer(data):
        position = match.end()
        head = data[position : position + 2]
        if len(head) < 2 or head[0] & 0x0F != 8 or ((head[0] << 8) | head[1]) % 31:
            continue  # not zlib data (the bytes themselves were searched already)
        inflater = zlib.decompressobj()
        parts = []
        while position < len(data) and not inflater.eof:
            end = data.find(b"endstream", position)
            end = len(data) if end < 0 else end + len(b"endstream")
            try:
                part = inflater.decompress(view[position:end], budget + 1)
            except zlib.error:
                break
            budget -= len(part)
            if budget < 0:
                raise ValidationFailed(
                    "This PDF holds too much compressed content to be checked: upload a photo "
                    "of the document instead."
                )
            parts.append(part)
            position = end
        yield b"".join(parts)


def check_document(file_name: str, data: bytes) -> str:
    """The content type of an identity document's bytes, or a clear refusal.

    Raises:
        ValidationFailed: Empty, too small or too large; not a JPEG, PNG, WebP or PDF; a name
            whose ending says another type; an image that does not decode (a JPEG cut short
            included), claims more pixels than a photo has, or is too small to read; a PDF
            that is damaged, encrypted, or carries scripts, actions or embedded files (in its
            plain or its compressed objects).
    """
    if not data:
        raise ValidationFailed("The file is empty: choose the photo or scan of your document.")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB: take a photo "
            "at a lower resolution or scan at 300 dpi."
        )
    if len(data) < MIN_DOCUMENT_BYTES:
        raise ValidationFailed("The file is too small to show a document: upload a clear photo.")
    content_type = _sniff(data)
    if content_type is None:
        raise ValidationFailed(
            "This file is not a JPEG, PNG, WebP image or a PDF: upload a photo or a scan of "
            "the document."
        )
    type_name, endings = _TYPES[content_type]
    name = (file_name or "").strip().lower()
    if "." in name and not name.endswith(endings):
        raise ValidationFailed(
            f"The file's name ends in {name[name.rfind('.') :]!r} but it holds a {type_name}: "
            "upload the document as it was saved."
        )
    if content_type == "application/pdf":
        if b"%%EOF" not in data[-2048:]:
            raise ValidationFailed("This PDF is damaged or incomplete: save or scan it again.")
        if _PDF_ENCRYPTED.search(_pdf_names(data)):
            raise ValidationFailed(
                "This PDF is encrypted or password-protected, so it cannot be checked: print it "
                "to a plain PDF or upload a photo of the document instead."
            )
        if any(_PDF_ACTIVE.search(_pdf_names(part)) for part in _pdf_parts(data)):
            raise ValidationFailed(
                "This PDF contains scripts, actions or attached files: print it to a plain PDF "
                "or upload a photo of the document instead."
            )
        return content_type
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.verify()
        if content_type == "image/jpeg":
            # verify() reads a JPEG's headers only: decoding it (at 1/8 scale, which is cheap)
            # finds a photo cut short or damaged.
            with Image.open(io.BytesIO(data)) as image:
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
                image.load()
    except Image.DecompressionBombError as exc:
        raise ValidationFailed(
            "This image has too many pixels to be a photo of a document: upload the photo as "
            "the camera saved it."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationFailed(
            f"This {type_name} is damaged and cannot be read: take the photo again."
        ) from exc
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ValidationFailed(
            f"The photo is {width}×{height} pixels: too small to read the document. Take it "
            f"at least {MIN_IMAGE_SIDE} pixels on each side."
        )
    return content_type


def _label(distributor_id: int, file_name: str) -> str:
    return f"identity_checks:{distributor_id}:{file_name}"


@dataclass(frozen=True)
class CheckPublic:
    """An identity check as its owner and the reviewers see it (never the document)."""

    id: int
    distributor_id: int
    method: str
    status: str
    status_label: str
    trigger: str
    trigger_label: str
    legal_name: str
    document_type: str
    document_label: str
    content_type: str
    size_bytes: int
    submitted_at: datetime
    decided_at: datetime | None
    reason: str


def _public(row: IdentityCheck) -> CheckPublic:
    return CheckPublic(
        id=row.id,  # type: ignore[arg-type]  # a stored row has an id
        distributor_id=row.distributor_id,
        method=row.method,
        status=row.status,
        status_label=STATUS_LABELS[row.status],
        trigger=row.trigger,
        trigger_label=TRIGGER_LABELS[row.trigger],
        legal_name=row.legal_name,
        document_type=row.document_type or "",
        document_label=DOCUMENT_LABELS.get(row.document_type or "", "Hosted check"),
        content_type=row.content_type or "",
        size_bytes=row.size_bytes or 0,
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
        reason=row.reason or "",
    )


@dataclass(frozen=True)
class IdentityStatus:
    """Where a person's identity verification stands, for their own page."""

    verified: bool
    verified_at: datetime | None
    recheck: str
    latest: CheckPublic | None
    provider_available: bool


def _own(*, actor: Actor) -> int:
    permissions.require("back_office.view", actor=actor)
    if actor.distributor_id is None:
        raise PermissionDenied("Only distributors verify their identity here.")
    return actor.distributor_id


def _distributor(distributor_id: int, *, session: Session) -> Distributor:
    row = session.get(Distributor, distributor_id)
    if row is None:
        raise NotFound(f"There is no distributor #{distributor_id}.")
    return row


def _profile(user_id: int, *, session: Session) -> UserProfile:
    profile = session.get(UserProfile, user_id)
    if profile is None:
        profile = UserProfile(user_id=user_id)
        session.add(profile)
        session.flush()
    return profile


PERSONAL_CLASSIFICATIONS = ("individual",)
"""Certifications whose legal name is the person's own (an entity's W-9 names the entity)."""


def legal_name_of(*, session: Session, distributor: Distributor) -> str:
    """The name a person's identity document must match.

    The legal name of their latest tax certification that is a person's (an individual's W-9
    or a W-8BEN), otherwise the name on their profile: a company's W-9 names the company, not
    the person whose document is checked.
    """
    certified = session.exec(
        select(TaxCertification.legal_name)
        .where(
            TaxCertification.distributor_id == distributor.id,
            col(TaxCertification.classification).in_(PERSONAL_CLASSIFICATIONS),
        )
        .order_by(col(TaxCertification.id).desc())
    ).first()
    if certified:
        return certified
    profile = session.get(UserProfile, distributor.user_id)
    name = " ".join(
        part for part in ((profile.first_name, profile.last_name) if profile else ()) if part
    )
    return name or "(no name on file)"


def _latest(distributor_id: int, *, session: Session) -> IdentityCheck | None:
    return session.exec(
        select(IdentityCheck)
        .where(IdentityCheck.distributor_id == distributor_id)
        .order_by(col(IdentityCheck.id).desc())
    ).first()


def my_status(*, session: Session, actor: Actor) -> IdentityStatus:
    """The actor's identity status and their latest check.

    Raises:
        PermissionDenied: Not a distributor.
    """
    distributor_id = _own(actor=actor)
    distributor = _distributor(distributor_id, session=session)
    profile = session.get(UserProfile, distributor.user_id)
    latest = _latest(distributor_id, session=session)
    return IdentityStatus(
        verified=bool(profile and profile.identity_verified_at),
        verified_at=profile.identity_verified_at if profile else None,
        recheck=TRIGGER_LABELS.get((profile.identity_recheck if profile else None) or "", ""),
        latest=_public(latest) if latest else None,
        provider_available=identity_provider.configured(),
    )


def _open_check(distributor: Distributor, method: str, *, session: Session) -> IdentityCheck:
    """A new pending check; an older pending one is withdrawn (the newest upload counts)."""
    profile = session.get(UserProfile, distributor.user_id)
    if profile is not None and profile.identity_verified_at is not None:
        raise ValidationFailed("Your identity is verified already: nothing to upload.")
    session.execute(
        text(
            "UPDATE identity_checks SET status = 'withdrawn'"
            " WHERE distributor_id = :d AND status = 'pending'"
        ),
        {"d": distributor.id},
    )
    return IdentityCheck(
        distributor_id=distributor.id,  # type: ignore[arg-type]  # a stored row has an id
        method=method,
        trigger=(profile.identity_recheck if profile else None) or "first",
        legal_name=legal_name_of(session=session, distributor=distributor),
    )


def submit_document(
    *, session: Session, actor: Actor, document_type: str, file_name: str, data: bytes
) -> CheckPublic:
    """Store the actor's identity document, encrypted, for review (audited).

    Raises:
        PermissionDenied: Not a distributor.
        ValidationFailed: An unknown document type, a file refused by :func:`check_document`,
            or an identity verified already; nothing is stored.
    """
    distributor_id = _own(actor=actor)
    if document_type not in DOCUMENT_TYPES:
        raise ValidationFailed(
            "Choose the kind of document: " + ", ".join(DOCUMENT_LABELS.values()).lower() + "."
        )
    content_type = check_document(file_name, data)
    distributor = _distributor(distributor_id, session=session)
    row = _open_check(distributor, "document", session=session)
    stored_name = f"{distributor_id}-{secrets.token_hex(12)}.bin"
    sealed, key_id = crypto.encrypt_bytes(data, label=_label(distributor_id, stored_name))
    row.document_type = document_type
    row.file_name = stored_name
    row.content_type = content_type
    row.size_bytes = len(data)
    row.sha256 = hashlib.sha256(data).hexdigest()
    row.key_id = key_id
    session.add(row)
    session.flush()
    storage.put(DOCUMENT_FOLDER, stored_name, sealed, "application/octet-stream")
    audit.record(
        session=session,
        actor=actor,
        action="identity.document_submitted",
        entity_type="distributor",
        entity_id=distributor_id,
        after={
            "check_id": row.id,
            "document_type": document_type,
            "content_type": content_type,
            "size_bytes": len(data),
        },
    )
    return _public(row)


def start_provider_check(*, session: Session, actor: Actor, redirect_url: str) -> str:
    """Start a check at the hosted provider; returns the page to send the person to.

    Raises:
        PermissionDenied: Not a distributor.
        ValidationFailed: No provider is configured, the provider refused or cannot be reached,
            or the identity is verified already; nothing is stored.
    """
    distributor_id = _own(actor=actor)
    if not identity_provider.configured():
        raise ValidationFailed("The company checks identity documents itself: upload yours.")
    distributor = _distributor(distributor_id, session=session)
    row = _open_check(distributor, "provider", session=session)
    session.add(row)
    session.flush()
    profile = session.get(UserProfile, distributor.user_id)
    try:
        inquiry = identity_provider.create_inquiry(
            reference_id=f"identity-check-{row.id}",
            redirect_url=redirect_url,
            name_first=(profile.first_name if profile else "") or "",
            name_last=(profile.last_name if profile else "") or "",
        )
    except identity_provider.ProviderUnreachable as exc:
        raise ValidationFailed(
            "The identity check service cannot be reached just now: try again in a few "
            "minutes, or upload your document instead."
        ) from exc
    except identity_provider.ProviderRefused as exc:
        raise ValidationFailed(f"The identity check service refused to start: {exc}") from exc
    row.inquiry_id = inquiry.id
    session.add(row)
    audit.record(
        session=session,
        actor=actor,
        action="identity.provider_started",
        entity_type="distributor",
        entity_id=distributor_id,
        after={"check_id": row.id, "inquiry_id": inquiry.id},
    )
    return inquiry.url


@dataclass(frozen=True)
class QueueRow:
    """A check in the reviewers' queue, with whose it is."""

    check: CheckPublic
    distributor_code: str
    name: str
    email: str
    country: str


QUEUE_SORTS = {
    "submitted_at": col(IdentityCheck.submitted_at),
    "decided_at": col(IdentityCheck.decided_at),
}


def queue(
    *,
    session: Session,
    actor: Actor,
    status: str = "pending",
    search: str = "",
    query: ListQuery | None = None,
) -> tuple[list[QueueRow], int]:
    """One page of identity checks for reviewers, oldest waiting first, and the count.

    Raises:
        PermissionDenied: Not a reviewer.
        ValidationFailed: An unknown status or sort column.
    """
    permissions.require("compliance.manage", actor=actor)
    if status and status not in STATUS_LABELS:
        raise ValidationFailed("Choose a status from the list.")
    statement = (
        sa.select(
            IdentityCheck,
            col(Distributor.code),
            col(UserProfile.first_name),
            col(UserProfile.last_name),
            col(User.email),
            col(Distributor.country),
        )
        .join(Distributor, col(Distributor.id) == col(IdentityCheck.distributor_id))
        .join(User, col(User.id) == col(Distributor.user_id))
        .outerjoin(UserProfile, col(UserProfile.user_id) == col(Distributor.user_id))
    )
    if status:
        statement = statement.where(col(IdentityCheck.status) == status)
    needle = (search or "").strip()
    if needle:
        statement = statement.where(
            sa.or_(
                col(IdentityCheck.legal_name).icontains(needle, autoescape=True),
                col(User.email).icontains(needle, autoescape=True),
                sa.func.lower(col(Distributor.code)) == needle.lower(),
            )
        )
    rows, total = listing.page(
        statement,
        query or ListQuery(),
        session=session,
        sort_columns=QUEUE_SORTS,
        default=[col(IdentityCheck.submitted_at), col(IdentityCheck.id)],
        tie_break=col(IdentityCheck.id),
    )
    return [
        QueueRow(
            check=_public(row[0]),
            distributor_code=row[1],
            name=" ".join(part for part in (row[2], row[3]) if part),
            email=row[4],
            country=(row[5] or "").strip(),
        )
        for row in rows
    ], total


def _check(check_id: int, *, session: Session, lock: bool = False) -> IdentityCheck:
    statement = select(IdentityCheck).where(IdentityCheck.id == check_id)
    row = session.exec(statement.with_for_update() if lock else statement).first()
    if row is None:
        raise NotFound("That identity check does not exist.")
    return row


def open_document(*, session: Session, actor: Actor, check_id: int) -> tuple[bytes, str, str]:
    """The document of a check, decrypted, for a reviewer (audited): bytes, type, file name.

    Raises:
        PermissionDenied: Not a reviewer.
        NotFound: No such check, a check without a document, or a file missing from storage
            or that does not decrypt as this check's (altered, or moved from another record).
    """
    permissions.require("compliance.manage", actor=actor)
    row = _check(check_id, session=session)
    if row.method != "document" or not row.file_name or not row.key_id:
        raise NotFound("This check has no document: it was made at the provider.")
    try:
        sealed = storage.get(DOCUMENT_FOLDER, row.file_name)
    except storage.StoredFileMissing as exc:
        raise NotFound("The document is missing from the file storage.") from exc
    try:
        data = crypto.decrypt_bytes(
            sealed, label=_label(row.distributor_id, row.file_name), key_id=row.key_id
        )
    except crypto.DecryptionError as exc:
        raise NotFound(
            "The stored document cannot be opened: it was altered or belongs to another record "
            "(or its encryption key is no longer configured). Ask the person to upload it again."
        ) from exc
    audit.record(
        session=session,
        actor=actor,
        action="identity.document_viewed",
        entity_type="distributor",
        entity_id=row.distributor_id,
        after={"check_id": row.id},
    )
    extension = {
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/webp": "webp",
        "application/pdf": "pdf",
    }[row.content_type or "application/pdf"]
    return data, row.content_type or "application/octet-stream", f"identity-{row.id}.{extension}"


def _decide(
    row: IdentityCheck, *, session: Session, actor: Actor, approved: bool, reason: str
) -> None:
    distributor = _distributor(row.distributor_id, session=session)
    row.status = "approved" if approved else "rejected"
    row.decided_at = utcnow()
    row.decided_by = actor.user_id
    row.reason = reason
    session.add(row)
    if approved:
        profile = _profile(distributor.user_id, session=session)
        profile.identity_verified_at = utcnow()
        profile.identity_verified_by = actor.user_id
        profile.identity_recheck = None
        session.add(profile)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="identity.approved" if approved else "identity.rejected",
        entity_type="distributor",
        entity_id=row.distributor_id,
        before={"check_id": row.id, "status": "pending"},
        after={"status": row.status, "identity_verified": approved},
        reason=reason,
    )
    params: dict[str, Any] = {} if approved else {"reason": reason}
    outbox.notify(
        session=session,
        kind="identity.approved" if approved else "identity.rejected",
        user_id=distributor.user_id,
        params=params,
    )


def _reviewable(check_id: int, *, session: Session, actor: Actor) -> IdentityCheck:
    permissions.require("compliance.manage", actor=actor)
    row = _check(check_id, session=session, lock=True)
    if row.status != "pending":
        raise ValidationFailed(
            f"This check is {STATUS_LABELS[row.status].lower()}: there is nothing to decide."
        )
    if row.method != "document":
        raise ValidationFailed("The provider decides its own checks; its answer comes by itself.")
    distributor = _distributor(row.distributor_id, session=session)
    if actor.user_id is not None and distributor.user_id == actor.user_id:
        raise PermissionDenied("Nobody reviews their own identity document.")
    return row


def approve(*, session: Session, actor: Actor, check_id: int, note: str) -> CheckPublic:
    """Approve a document: the identity hold lifts and the person is told (audited).

    Raises:
        PermissionDenied: Not a reviewer, or the reviewer's own check.
        ValidationFailed: No note of what was checked, or the check is decided already.
        NotFound: No such check.
    """
    note = " ".join((note or "").split())
    if len(note) < 5:
        raise ValidationFailed(
            "Say what you checked (at least 5 characters), such as the document number's last "
            "digits and its expiry."
        )
    row = _reviewable(check_id, session=session, actor=actor)
    _decide(row, session=session, actor=actor, approved=True, reason=note[:500])
    return _public(row)


def reject(*, session: Session, actor: Actor, check_id: int, reason: str) -> CheckPublic:
    """Reject a document with the reason the person is told (audited).

    Raises:
        PermissionDenied: Not a reviewer, or the reviewer's own check.
        ValidationFailed: No reason, or the check is decided already.
        NotFound: No such check.
    """
    reason = " ".join((reason or "").split())
    if len(reason) < 5:
        raise ValidationFailed(
            "Say why the document is not accepted (at least 5 characters): the person reads it."
        )
    row = _reviewable(check_id, session=session, actor=actor)
    _decide(row, session=session, actor=actor, approved=False, reason=reason[:500])
    return _public(row)


def require_again(*, session: Session, actor: Actor, distributor_id: int, trigger: str) -> bool:
    """Set a verified identity back to unverified because ``trigger`` changed (audited, told).

    Returns:
        True when the identity was verified and must now be checked again.
    """
    if trigger not in ("legal_name", "payout_method"):
        raise ValueError(f"unknown re-check trigger {trigger!r}")
    distributor = _distributor(distributor_id, session=session)
    profile = session.get(UserProfile, distributor.user_id)
    if profile is None or profile.identity_verified_at is None:
        return False
    profile.identity_verified_at = None
    profile.identity_verified_by = None
    profile.identity_recheck = trigger
    session.add(profile)
    audit.record(
        session=session,
        actor=actor,
        action="identity.recheck_required",
        entity_type="distributor",
        entity_id=distributor_id,
        before={"identity_verified": True},
        after={"identity_verified": False, "trigger": trigger},
    )
    outbox.notify(
        session=session,
        kind="identity.recheck",
        user_id=distributor.user_id,
        params={"change": TRIGGER_LABELS[trigger].replace("The", "Your", 1)},
    )
    return True


def apply_provider_webhook(*, session: Session, body: bytes, signature: str) -> str:
    """Verify and apply one webhook of the identity provider; each event once.

    Returns:
        What was done, for the answer to the provider.

    Raises:
        ValidationFailed: A forged, stale or malformed request (nothing is recorded).
    """
    result = identity_provider.verify_webhook(body, signature)
    inserted = session.execute(
        text(
            "INSERT INTO identity_provider_events (id, inquiry_id, outcome)"
            " VALUES (:id, :inquiry, :outcome) ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {"id": result.event_id, "inquiry": result.inquiry_id, "outcome": result.outcome},
    ).first()
    if inserted is None:
        return "already applied"
    if result.outcome == "ignored":
        return "ignored"
    row = session.exec(
        select(IdentityCheck).where(IdentityCheck.inquiry_id == result.inquiry_id).with_for_update()
    ).first()
    if row is None:
        return "no check of this app"
    if row.status != "pending":
        return f"check {row.id} is {row.status} already"
    if result.outcome == "expired":
        row.status = "expired"
        row.decided_at = utcnow()
        session.add(row)
        audit.record(
            session=session,
            actor=PROVIDER_ACTOR,
            action="identity.provider_expired",
            entity_type="distributor",
            entity_id=row.distributor_id,
            after={"check_id": row.id},
        )
        return f"check {row.id} expired"
    approved = result.outcome == "approved"
    _decide(
        row,
        session=session,
        actor=PROVIDER_ACTOR,
        approved=approved,
        reason=(
            "Verified by the identity provider"
            if approved
            else (result.reason or "The identity provider could not verify the document.")
        )[:500],
    )
    return f"check {row.id} {row.status}"


def rotate_documents(*, session: Session, current_key: str) -> int:
    """Re-encrypt every stored document whose key is not ``current_key``; returns how many.

    Each is written under a new name before its record points to it, so a failure before the
    commit leaves the record and its old file as they were.
    """
    moved = 0
    rows = session.exec(
        select(IdentityCheck).where(
            IdentityCheck.method == "document",
            col(IdentityCheck.key_id).is_not(None),
            IdentityCheck.key_id != current_key,
        )
    ).all()
    for row in rows:
        old_name = row.file_name or ""
        try:
            sealed = storage.get(DOCUMENT_FOLDER, old_name)
        except storage.StoredFileMissing:
            continue
        data = crypto.decrypt_bytes(
            sealed, label=_label(row.distributor_id, old_name), key_id=row.key_id or ""
        )
        new_name = f"{row.distributor_id}-{secrets.token_hex(12)}.bin"
        resealed, key_id = crypto.encrypt_bytes(data, label=_label(row.distributor_id, new_name))
        storage.put(DOCUMENT_FOLDER, new_name, resealed, "application/octet-stream")
        row.file_name = new_name
        row.key_id = key_id
        session.add(row)
        moved += 1
    return moved
