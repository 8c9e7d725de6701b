"""Identity checks: a document reviewed by compliance, or the hosted provider's signed result.

Documents are real files made here (noisy JPEG, PNG and WebP photos, PDFs written by hand or with
fpdf2) and every refused upload is an attack or a mistake a person makes; a refusal stores
nothing. The hosted provider is the local stand-in (``tests/kyc_server.py``), whose signed
webhooks reach the service in a session of their own, as the webhook route does.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import secrets
import time
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pypdf
import pytest
from fpdf import FPDF
from PIL import Image
from sqlalchemy import text

from mlmcrm import settings
from mlmcrm.db import session_scope
from mlmcrm.errors import NotFound, PermissionDenied, ValidationFailed
from mlmcrm.models import User
from mlmcrm.services.messaging import outbox
from mlmcrm.services.payouts import holds, identity, methods, tax_status, wallet
from mlmcrm.services.platform import crypto
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.listing import ListQuery
from tests.factories import make_user
from tests.kyc_server import FakeKyc, signature_header
from tests.services.conftest import signed_in

API_KEY = "persona_sandbox_" + uuid.uuid4().hex
WEBHOOK_SECRET = "wbhsec_" + uuid.uuid4().hex
TEMPLATE = "itmpl_" + uuid.uuid4().hex[:24]
RETURN_URL = "https://crm.example.com/tax/identity/done"
HOME = tax_status.Address("1 Main St", "Austin", "TX", "78701", "US")


# --- files made here ---------------------------------------------------------------------------


def photo(kind: str = "JPEG", size: tuple[int, int] = (400, 300)) -> bytes:
    """A photo of random pixels (it does not compress: well over the 2 KB minimum)."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def _page_objects(catalog_extra: bytes = b"") -> list[bytes]:
    """A catalog, a page tree, one letter page and its drawing (300 random rectangles)."""
    rng = random.Random(7)
    drawing = b"".join(
        b"%d %d %d %d re f\n"
        % (rng.randrange(612), rng.randrange(792), rng.randrange(1, 40), rng.randrange(1, 40))
        for _ in range(300)
    )
    return [
        b"<< /Type /Catalog /Pages 2 0 R" + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        _stream(drawing),
    ]


def _pdf_file(objects: list[bytes]) -> bytes:
    """A PDF 1.4 of ``objects`` (numbered from 1, the first is the catalog) with its xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        start,
    )
    return bytes(out)


def scan_pdf(catalog_extra: bytes = b"", *extra: bytes) -> bytes:
    """A one-page PDF written by hand."""
    return _pdf_file(_page_objects(catalog_extra) + list(extra))


SCRIPT = b"<< /Type /Action /S /JavaScript /JS (app.alert\\(document.cookie\\)) >>"


def script_pdf() -> bytes:
    """A PDF that runs a script when it is opened."""
    return scan_pdf(b" /OpenAction 5 0 R", SCRIPT)


def escaped_script_pdf() -> bytes:
    """The same, its names written with ``#xx`` escapes as the PDF format allows."""
    return scan_pdf(b" /Open#41ction 5 0 R", b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>")


def _deflate_after_plain_text(plain: bytes, rest: bytes) -> bytes:
    """zlib data whose first block stores ``plain`` as it is and compresses ``rest``."""
    packer = zlib.compressobj(wbits=-15)
    packed = packer.compress(rest) + packer.flush()
    stored = (
        b"\x00" + len(plain).to_bytes(2, "little") + (0xFFFF ^ len(plain)).to_bytes(2, "little")
    )
    checksum = zlib.adler32(plain + rest).to_bytes(4, "big")
    return b"\x78\x01" + stored + plain + packed + checksum


def packed_script_pdf(behind_endstream: bool = False) -> bytes:
    """The same in PDF 1.5: the catalog and its script compressed in an object stream.

    With ``behind_endstream`` the stream starts with an object ``(endstream)`` kept as plain
    text, so a reader that stops at the first ``endstream`` never sees the rest.
    """
    catalog, page_tree, page, drawing = _page_objects(b" /OpenAction 5 0 R")
    head, body = [], b""
    for number, obj in ((8, b"(endstream)"), (1, catalog), (5, SCRIPT)):
        head.append(b"%d %d" % (number, len(body)))
        body += obj + b"\n"
    first = b" ".join(head) + b"\n"
    content = first + body
    if behind_endstream:
        split = len(first) + len(b"(endstream)\n")
        packed = _deflate_after_plain_text(content[:split], content[split:])
    else:
        packed = zlib.compress(content)
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number, obj in (
        (2, page_tree),
        (3, page),
        (4, drawing),
        (6, _stream(packed, b" /Type /ObjStm /N 3 /First %d /Filter /FlateDecode" % len(first))),
    ):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    offsets[7] = len(out)

    def entry(kind: int, field: int, index: int) -> bytes:
        return bytes([kind]) + field.to_bytes(4, "big") + index.to_bytes(2, "big")

    xref = b"".join(
        [
            entry(0, 0, 65535),
            entry(2, 6, 1),
            *(entry(1, offsets[n], 0) for n in (2, 3, 4)),
            entry(2, 6, 2),
            entry(1, offsets[6], 0),
            entry(1, offsets[7], 0),
            entry(2, 6, 0),
        ]
    )
    out += b"7 0 obj\n" + _stream(xref, b" /Type /XRef /Size 9 /W [1 4 2] /Root 1 0 R")
    out += b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[7]
    return bytes(out)


def attachment_pdf() -> bytes:
    """A PDF carrying a program as an attached file (its stream without the optional /Type)."""
    program = b"MZ\x90\x00" + bytes(range(256)) * 8
    return scan_pdf(
        b" /Names << /EmbeddedFiles << /Names [(invoice.exe) 5 0 R] >> >>",
        b"<< /Type /Filespec /F (invoice.exe) /EF << /F 6 0 R >> >>",
        _stream(program),
    )


def encrypted_pdf() -> bytes:
    """A password-protected PDF (its objects cannot be read without decrypting them)."""
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(scan_pdf()))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def fpdf_scan() -> bytes:
    """A PDF as a scanning app makes it: a page with the photo of the document."""
    document = FPDF(unit="pt", format="letter")
    document.add_page()
    document.set_font("Helvetica", size=12)
    document.cell(text="Passport, page 2")
    document.image(io.BytesIO(photo("PNG", (320, 240))), x=40, y=60, w=320)
    return bytes(document.output())


def bomb_png() -> bytes:
    """A small PNG that claims 400 million pixels."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    return out.getvalue()


def _script_action(data: bytes) -> str:
    """What pypdf (a real reader) finds the catalog's open action to be."""
    root: Any = pypdf.PdfReader(io.BytesIO(data), strict=True).trailer["/Root"]
    return str(root["/OpenAction"].get_object()["/S"])


def test_the_pdfs_made_here_are_what_a_reader_finds():
    for made in (script_pdf, escaped_script_pdf, packed_script_pdf):
        assert _script_action(made()) == "/JavaScript", made.__name__
    hidden = packed_script_pdf(behind_endstream=True)
    assert _script_action(hidden) == "/JavaScript"
    assert hidden.count(b"endstream") > packed_script_pdf().count(b"endstream")
    assert list(pypdf.PdfReader(io.BytesIO(attachment_pdf())).attachments) == ["invoice.exe"]
    assert pypdf.PdfReader(io.BytesIO(encrypted_pdf())).is_encrypted
    assert len(pypdf.PdfReader(io.BytesIO(scan_pdf()), strict=True).pages) == 1
    assert len(pypdf.PdfReader(io.BytesIO(fpdf_scan())).pages) == 1


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture()
def files(tmp_path, monkeypatch):
    """Stored files go to a folder of the test's own."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings.get_settings.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "uploads").rglob("*") if p.is_file())


def person(owner, company, letter: str) -> Actor:
    """The distributor ``letter`` of the company, signed in just now."""
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar()
    return signed_in(owner, owner.get(User, user_id))[0]


def staff(owner, role: str) -> Actor:
    user = make_user(owner, role=role)
    return Actor(user_id=user.id, role=role, label=user.email)


def upload(owner, actor: Actor, data: bytes | None = None, name: str = "passport.jpg"):
    shown = identity.submit_document(
        session=owner,
        actor=actor,
        document_type="passport",
        file_name=name,
        data=photo() if data is None else data,
    )
    owner.commit()
    return shown


def check_row(owner, check_id: int):
    return owner.execute(text("SELECT * FROM identity_checks WHERE id = :i"), {"i": check_id}).one()


def profile(owner, actor: Actor):
    return owner.execute(
        text(
            "SELECT identity_verified_at, identity_verified_by, identity_recheck"
            " FROM user_profiles WHERE user_id = :u"
        ),
        {"u": actor.user_id},
    ).one()


def audits(owner, action: str) -> list:
    return owner.execute(
        text("SELECT * FROM audit_logs WHERE action = :a ORDER BY id"), {"a": action}
    ).all()


def told(owner, user_id: int | None, kind: str) -> list[str]:
    """The words of the emails of ``kind`` queued to the person (decrypted)."""
    rows = owner.execute(
        text(
            "SELECT body_enc FROM messages WHERE user_id = :u AND kind = :k AND channel = 'email'"
            " ORDER BY id"
        ),
        {"u": user_id, "k": kind},
    ).all()
    return [crypto.decrypt_field(r.body_enc, field=outbox.BODY_FIELD) for r in rows]


def reasons(owner, distributor_id: int) -> list[str]:
    return [r.code for r in holds.blockers(session=owner, distributor_id=distributor_id)[0]]


def give_money(owner, company, letter: str, amount: str = "80.00") -> None:
    wallet.adjust(
        session=owner,
        actor=Actor(user_id=None, role="finance", label="test"),
        distributor_id=company.people[letter],
        amount=amount,
        reason="Test earnings",
    )
    owner.commit()


# --- uploading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "made", "content_type"),
    [
        ("passport.jpg", lambda: photo("JPEG"), "image/jpeg"),
        ("IMG_0042.JPEG", lambda: photo("JPEG", (3000, 2000)), "image/jpeg"),
        ("licence.png", lambda: photo("PNG"), "image/png"),
        ("card.webp", lambda: photo("WEBP"), "image/webp"),
        ("scan.pdf", scan_pdf, "application/pdf"),
        ("scan-from-app.pdf", fpdf_scan, "application/pdf"),
        ("no-ending", lambda: photo("PNG"), "image/png"),
    ],
)
def test_a_photo_or_scan_is_stored_encrypted_and_a_reviewer_gets_the_same_bytes(
    owner, company, files, name, made, content_type
):
    data = made()
    anna = person(owner, company, "A")
    shown = upload(owner, anna, data, name)

    assert (shown.status, shown.method, shown.trigger) == ("pending", "document", "first")
    assert (shown.content_type, shown.size_bytes) == (content_type, len(data))
    assert shown.legal_name == "Anna Root", "checked against the name on file"
    row = check_row(owner, shown.id)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    (stored,) = stored_files(files)
    assert stored.name == row.file_name and stored.parent.name == "identity"
    sealed = stored.read_bytes()
    assert sealed != data and data[100:164] not in sealed, "the file is kept encrypted"
    assert sealed[:4] not in (b"\xff\xd8\xff\xe0", b"\x89PNG", b"%PDF", b"RIFF")
    submitted = audits(owner, "identity.document_submitted")
    assert [a.entity_id for a in submitted] == [str(company.people["A"])]
    assert submitted[0].after["content_type"] == content_type

    reviewer = staff(owner, "compliance")
    got, got_type, got_name = identity.open_document(
        session=owner, actor=reviewer, check_id=shown.id
    )
    owner.commit()
    assert got == data and got_type == content_type
    assert (
        got_name == f"identity-{shown.id}.{content_type.rsplit('/', 1)[1].replace('jpeg', 'jpg')}"
    )
    (viewed,) = audits(owner, "identity.document_viewed")
    assert viewed.actor_id == reviewer.user_id and viewed.after == {"check_id": shown.id}


REFUSED = [
    pytest.param(
        "passport.jpg",
        lambda: b"MZ\x90\x00\x03" + os.urandom(8000),
        "not a JPEG, PNG, WebP image or a PDF",
        id="a program renamed .jpg",
    ),
    pytest.param(
        "passport.jpg",
        lambda: _zip_of(photo()),
        "not a JPEG, PNG, WebP image or a PDF",
        id="a zip renamed .jpg",
    ),
    pytest.param(
        "passport.jpg",
        lambda: b"My passport number is 123456789\n" * 200,
        "not a JPEG, PNG, WebP image or a PDF",
        id="text renamed .jpg",
    ),
    pytest.param(
        "passport.jpg",
        lambda: b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script>" + b" " * 4000,
        "not a JPEG, PNG, WebP image or a PDF",
        id="an svg with a script",
    ),
    pytest.param(
        "passport.pdf",
        lambda: photo("JPEG"),
        "ends in '.pdf' but it holds a JPEG image",
        id="a JPEG named .pdf",
    ),
    pytest.param(
        "passport.exe",
        lambda: photo("PNG"),
        "ends in '.exe' but it holds a PNG image",
        id="a PNG named .exe",
    ),
    pytest.param("passport.jpg", lambda: b"", "The file is empty", id="empty"),
    pytest.param(
        "passport.jpg",
        lambda: b"\xff\xd8\xff\xe0" + b"\0" * 1000,
        "too small to show a document",
        id="under 2 KB",
    ),
    pytest.param(
        "passport.jpg",
        lambda: b"\xff\xd8\xff\xe0" + os.urandom(10 * 1024 * 1024),
        "larger than 10 MB",
        id="over 10 MB",
    ),
    pytest.param(
        "passport.jpg",
        lambda: photo("JPEG", (200, 200)),
        "200×200 pixels: too small to read the document",
        id="a tiny photo",
    ),
    pytest.param(
        "passport.jpg",
        lambda: photo("JPEG")[:-3000],
        "This JPEG image is damaged",
        id="a truncated JPEG",
    ),
    pytest.param(
        "passport.png",
        lambda: photo("PNG")[:50000],
        "This PNG image is damaged",
        id="a truncated PNG",
    ),
    pytest.param(
        "passport.jpg",
        lambda: b"\xff\xd8\xff\xe0" + os.urandom(20000),
        "This JPEG image is damaged",
        id="noise behind a JPEG header",
    ),
    pytest.param(
        "passport.png",
        bomb_png,
        "too many pixels",
        id="a decompression bomb",
    ),
    pytest.param(
        "scan.pdf",
        lambda: scan_pdf()[:-200],
        "damaged or incomplete",
        id="a truncated PDF",
    ),
    pytest.param("scan.pdf", script_pdf, "contains scripts", id="a PDF with JavaScript"),
    pytest.param(
        "scan.pdf",
        escaped_script_pdf,
        "contains scripts",
        id="a PDF with JavaScript behind escaped names",
    ),
    pytest.param(
        "scan.pdf",
        packed_script_pdf,
        "contains scripts",
        id="a PDF with JavaScript in a compressed object stream",
    ),
    pytest.param(
        "scan.pdf",
        lambda: packed_script_pdf(behind_endstream=True),
        "contains scripts",
        id="a PDF with JavaScript compressed behind an endstream look-alike",
    ),
    pytest.param(
        "scan.pdf",
        attachment_pdf,
        "contains scripts",
        id="a PDF with an attached file",
    ),
    pytest.param(
        "scan.pdf",
        lambda: scan_pdf(b" /OpenAction 5 0 R", b"<< /S /Launch /F (cmd.exe) >>"),
        "contains scripts",
        id="a PDF that launches a program",
    ),
    pytest.param("scan.pdf", encrypted_pdf, "encrypted", id="an encrypted PDF"),
    pytest.param(
        "scan.pdf",
        lambda: scan_pdf(b"", _stream(zlib.compress(b"\0" * (65 * 1024 * 1024), 9))),
        "too much compressed content",
        id="a PDF whose stream inflates past 64 MB",
    ),
]


def _zip_of(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("passport.jpg", data)
    return out.getvalue()


@pytest.mark.parametrize(("name", "made", "message"), REFUSED)
def test_a_refused_upload_says_why_and_stores_nothing(owner, company, files, name, made, message):
    anna = person(owner, company, "A")
    with pytest.raises(ValidationFailed, match=message) as refused:
        identity.submit_document(
            session=owner, actor=anna, document_type="passport", file_name=name, data=made()
        )
    owner.rollback()
    assert "Traceback" not in str(refused.value)
    assert owner.execute(text("SELECT count(*) FROM identity_checks")).scalar() == 0
    assert stored_files(files) == []
    assert audits(owner, "identity.document_submitted") == []


def test_an_unknown_kind_of_document_or_a_non_distributor_stores_nothing(owner, company, files):
    anna = person(owner, company, "A")
    for kind in ("selfie", "", "PASSPORT", "passport "):
        with pytest.raises(ValidationFailed, match="Choose the kind of document"):
            identity.submit_document(
                session=owner, actor=anna, document_type=kind, file_name="a.jpg", data=photo()
            )
        owner.rollback()
    for role in ("admin", "compliance", "finance", "support"):
        with pytest.raises(PermissionDenied):
            identity.submit_document(
                session=owner,
                actor=staff(owner, role),
                document_type="passport",
                file_name="a.jpg",
                data=photo(),
            )
        owner.rollback()
    assert owner.execute(text("SELECT count(*) FROM identity_checks")).scalar() == 0
    assert stored_files(files) == []


def test_only_a_reviewer_opens_a_document(owner, company, files):
    anna = person(owner, company, "A")
    shown = upload(owner, anna)
    for actor in (
        anna,
        person(owner, company, "B"),
        staff(owner, "support"),
        staff(owner, "finance"),
        Actor.system("a job"),
    ):
        with pytest.raises(PermissionDenied):
            identity.open_document(session=owner, actor=actor, check_id=shown.id)
        owner.rollback()
    assert audits(owner, "identity.document_viewed") == []
    for role in ("compliance", "admin"):
        data, _, _ = identity.open_document(
            session=owner, actor=staff(owner, role), check_id=shown.id
        )
        owner.commit()
        assert data[:3] == b"\xff\xd8\xff"
    assert len(audits(owner, "identity.document_viewed")) == 2
    with pytest.raises(NotFound):
        identity.open_document(session=owner, actor=staff(owner, "compliance"), check_id=999999)


def test_a_document_file_moved_under_another_record_does_not_decrypt(owner, company, files):
    anna, ben = person(owner, company, "A"), person(owner, company, "B")
    first = upload(owner, anna, photo("JPEG"))
    second = upload(owner, ben, photo("PNG"), "licence.png")
    reviewer = staff(owner, "compliance")
    a_row, b_row = check_row(owner, first.id), check_row(owner, second.id)
    folder = files / "uploads" / "identity"

    # Anna's file copied over Ben's: it is bound to Anna's record and does not open as Ben's.
    (folder / b_row.file_name).write_bytes((folder / a_row.file_name).read_bytes())
    with pytest.raises(NotFound, match="altered or belongs to another record"):
        identity.open_document(session=owner, actor=reviewer, check_id=second.id)
    owner.rollback()
    # Ben's record pointed at Anna's file: no more.
    owner.execute(
        text("UPDATE identity_checks SET file_name = :f WHERE id = :i"),
        {"f": a_row.file_name, "i": second.id},
    )
    owner.commit()
    with pytest.raises(NotFound, match="altered or belongs to another record"):
        identity.open_document(session=owner, actor=reviewer, check_id=second.id)
    owner.rollback()
    # One changed byte.
    sealed = bytearray((folder / a_row.file_name).read_bytes())
    sealed[len(sealed) // 2] ^= 1
    (folder / a_row.file_name).write_bytes(bytes(sealed))
    with pytest.raises(NotFound, match="altered or belongs to another record"):
        identity.open_document(session=owner, actor=reviewer, check_id=first.id)
    owner.rollback()
    (folder / a_row.file_name).unlink()
    with pytest.raises(NotFound, match="missing from the file storage"):
        identity.open_document(session=owner, actor=reviewer, check_id=first.id)
    owner.rollback()
    assert audits(owner, "identity.document_viewed") == [], "nothing was shown"


def test_a_second_upload_withdraws_the_pending_one_and_a_verified_person_uploads_nothing(
    owner, company, files
):
    anna = person(owner, company, "A")
    first = upload(owner, anna, photo("JPEG"))
    second = upload(owner, anna, photo("PNG"), "better.png")
    assert check_row(owner, first.id).status == "withdrawn"
    assert check_row(owner, second.id).status == "pending"
    reviewer = staff(owner, "compliance")
    rows, total = identity.queue(session=owner, actor=reviewer)
    assert total == 1 and [r.check.id for r in rows] == [second.id]
    with pytest.raises(ValidationFailed, match="replaced by a newer upload"):
        identity.approve(session=owner, actor=reviewer, check_id=first.id, note="Passport ok")
    owner.rollback()
    identity.approve(session=owner, actor=reviewer, check_id=second.id, note="Passport ok")
    owner.commit()
    with pytest.raises(ValidationFailed, match="verified already"):
        upload(owner, anna)
    owner.rollback()
    assert owner.execute(text("SELECT count(*) FROM identity_checks")).scalar() == 2
    assert len(stored_files(files)) == 2


# --- the reviewers' queue -----------------------------------------------------------------------


def test_the_queue_lists_pending_checks_oldest_first_with_filters_and_search(owner, company, files):
    people = {letter: person(owner, company, letter) for letter in "ABC"}
    checks = {letter: upload(owner, actor) for letter, actor in people.items()}
    for letter, minutes in (("A", 30), ("B", 10), ("C", 50)):
        owner.execute(
            text(
                "UPDATE identity_checks SET submitted_at = now() - make_interval(mins => :m)"
                " WHERE id = :i"
            ),
            {"m": minutes, "i": checks[letter].id},
        )
    owner.commit()
    reviewer = staff(owner, "compliance")

    def listed(**kwargs) -> list[str]:
        rows, total = identity.queue(session=owner, actor=reviewer, **kwargs)
        assert total == len(rows)
        by_id = {c.id: letter for letter, c in checks.items()}
        return [by_id[r.check.id] for r in rows]

    assert listed() == ["C", "A", "B"], "the longest waiting first"
    first = identity.queue(session=owner, actor=reviewer)[0][0]
    assert first.name == "Cara Cole" and first.email.endswith("@example.com")
    assert first.check.document_label == "Passport" and first.check.status_label
    assert listed(query=ListQuery(sort="submitted_at", descending=True)) == ["B", "A", "C"]
    page, total = identity.queue(session=owner, actor=reviewer, query=ListQuery(limit=2, offset=2))
    assert total == 3 and [r.check.id for r in page] == [checks["B"].id]

    identity.reject(session=owner, actor=reviewer, check_id=checks["A"].id, reason="Too blurred")
    owner.commit()
    assert listed() == ["C", "B"]
    assert listed(status="rejected") == ["A"]
    assert sorted(listed(status="")) == ["A", "B", "C"]

    ben_email = owner.get(User, people["B"].user_id).email
    code = owner.execute(
        text("SELECT code FROM distributors WHERE id = :d"), {"d": company.people["C"]}
    ).scalar()
    assert listed(search=ben_email.upper()) == ["B"]
    assert listed(search="ANNA ro", status="") == ["A"], "the legal name, any case"
    assert listed(search=f"  {code.upper()} ") == ["C"], "a distributor code, exactly"
    assert listed(search=code[:-1]) == []
    assert listed(search="%") == [] and listed(search="_") == [], "wildcards are text"

    with pytest.raises(ValidationFailed, match="status"):
        identity.queue(session=owner, actor=reviewer, status="approved; DROP TABLE users")
    with pytest.raises(ValidationFailed, match="cannot be sorted"):
        identity.queue(session=owner, actor=reviewer, query=ListQuery(sort="legal_name"))
    for actor in (people["A"], staff(owner, "finance"), staff(owner, "support")):
        with pytest.raises(PermissionDenied):
            identity.queue(session=owner, actor=actor)


# --- deciding -----------------------------------------------------------------------------------


def test_approving_lifts_the_identity_hold_and_tells_the_person(owner, company, files):
    anna = person(owner, company, "A")
    a = company.people["A"]
    give_money(owner, company, "A")
    shown = upload(owner, anna)
    assert "identity" in reasons(owner, a)
    reviewer = staff(owner, "compliance")
    for actor in (anna, staff(owner, "finance"), staff(owner, "support")):
        with pytest.raises(PermissionDenied):
            identity.approve(session=owner, actor=actor, check_id=shown.id, note="Looks fine")
        owner.rollback()
    for note in ("", "ok", "    ok    "):
        with pytest.raises(ValidationFailed, match="Say what you checked"):
            identity.approve(session=owner, actor=reviewer, check_id=shown.id, note=note)
        owner.rollback()
    assert check_row(owner, shown.id).status == "pending"

    approved = identity.approve(
        session=owner, actor=reviewer, check_id=shown.id, note="Passport ending 4821, exp 2031"
    )
    owner.commit()
    assert approved.status == "approved" and approved.decided_at is not None
    assert "identity" not in reasons(owner, a)
    verified = profile(owner, anna)
    assert verified.identity_verified_at is not None
    assert verified.identity_verified_by == reviewer.user_id
    status = identity.my_status(session=owner, actor=anna)
    assert status.verified and status.latest is not None and status.recheck == ""
    assert status.latest.status == "approved"
    (row,) = audits(owner, "identity.approved")
    assert row.actor_id == reviewer.user_id and row.entity_id == str(a)
    assert row.reason == "Passport ending 4821, exp 2031"
    assert len(told(owner, anna.user_id, "identity.approved")) == 1

    for decide in (
        lambda: identity.approve(session=owner, actor=reviewer, check_id=shown.id, note="Again!"),
        lambda: identity.reject(session=owner, actor=reviewer, check_id=shown.id, reason="Oops!"),
    ):
        with pytest.raises(ValidationFailed, match="approved: there is nothing to decide"):
            decide()
        owner.rollback()
    assert check_row(owner, shown.id).status == "approved"
    assert len(audits(owner, "identity.approved")) == 1
    with pytest.raises(NotFound):
        identity.approve(session=owner, actor=reviewer, check_id=999999, note="Nothing here")


def test_a_rejection_needs_a_reason_that_the_person_is_told(owner, company, files):
    anna = person(owner, company, "A")
    shown = upload(owner, anna)
    reviewer = staff(owner, "compliance")
    for reason in ("", "   ", "bad"):
        with pytest.raises(ValidationFailed, match="Say why the document is not accepted"):
            identity.reject(session=owner, actor=reviewer, check_id=shown.id, reason=reason)
        owner.rollback()
    rejected = identity.reject(
        session=owner,
        actor=reviewer,
        check_id=shown.id,
        reason="The photo is blurred:   the date of birth cannot be read.",
    )
    owner.commit()
    assert rejected.status == "rejected"
    assert rejected.reason == "The photo is blurred: the date of birth cannot be read."
    assert profile(owner, anna).identity_verified_at is None
    (words,) = told(owner, anna.user_id, "identity.rejected")
    assert "The photo is blurred: the date of birth cannot be read." in words
    with pytest.raises(ValidationFailed, match="rejected: there is nothing to decide"):
        identity.approve(session=owner, actor=reviewer, check_id=shown.id, note="Fine after all")
    owner.rollback()
    again = upload(owner, anna)
    assert again.status == "pending" and again.trigger == "first"
    assert check_row(owner, shown.id).status == "rejected", "a decided check stays as decided"


# --- checked again ------------------------------------------------------------------------------


def _verify(owner, actor: Actor) -> None:
    shown = upload(owner, actor)
    identity.approve(
        session=owner, actor=staff(owner, "compliance"), check_id=shown.id, note="Passport ok"
    )
    owner.commit()


def _bank(owner, actor: Actor, account: str) -> None:
    methods.set_bank_account(
        session=owner,
        actor=actor,
        holder_name="Anna Root",
        routing_number="021000021",
        account_number=account,
        account_type="checking",
    )
    owner.commit()


def test_replacing_the_bank_account_sends_a_verified_identity_back_for_a_check(
    owner, company, files
):
    anna = person(owner, company, "A")
    a = company.people["A"]
    give_money(owner, company, "A")
    _verify(owner, anna)
    _bank(owner, anna, "111122223333")
    assert profile(owner, anna).identity_verified_at is not None, "a first setup is no change"
    assert told(owner, anna.user_id, "identity.recheck") == []

    _bank(owner, anna, "999988887777")
    after = profile(owner, anna)
    assert after.identity_verified_at is None and after.identity_recheck == "payout_method"
    assert "identity" in reasons(owner, a)
    (words,) = told(owner, anna.user_id, "identity.recheck")
    assert "Your payout method changed" in words
    (row,) = audits(owner, "identity.recheck_required")
    assert row.after == {"identity_verified": False, "trigger": "payout_method"}
    assert identity.my_status(session=owner, actor=anna).recheck == "The payout method changed"

    again = upload(owner, anna)
    assert again.trigger == "payout_method" and again.trigger_label == "The payout method changed"
    identity.approve(
        session=owner, actor=staff(owner, "compliance"), check_id=again.id, note="Passport ok"
    )
    owner.commit()
    assert profile(owner, anna).identity_recheck is None
    assert "identity" not in reasons(owner, a)


def test_a_w9_with_another_legal_name_sends_identity_back(owner, company, files):
    anna = person(owner, company, "A")
    _verify(owner, anna)

    def certify(name: str) -> None:
        tax_status.certify_w9(
            session=owner,
            actor=anna,
            classification="individual",
            legal_name=name,
            business_name="",
            tin_kind="ssn",
            tin="536-90-4399",
            address=HOME,
            signature=name,
            certified=True,
        )
        owner.commit()

    certify("anna   ROOT")
    assert profile(owner, anna).identity_verified_at is not None, "the same name, typed otherwise"
    certify("Anna Smith")
    after = profile(owner, anna)
    assert after.identity_verified_at is None and after.identity_recheck == "legal_name"
    (words,) = told(owner, anna.user_id, "identity.recheck")
    assert "Your legal name changed" in words
    again = upload(owner, anna)
    assert again.trigger == "legal_name" and again.legal_name == "Anna Smith"


def test_a_company_w9_does_not_rename_the_person_and_a_waiting_check_follows_a_new_name(
    owner, company, files
):
    anna = person(owner, company, "A")
    waiting = upload(owner, anna)
    assert waiting.legal_name == "Anna Root", "the profile's name until a W-9 says otherwise"

    def certify(name: str, **changes) -> None:
        values = {
            "classification": "individual",
            "legal_name": name,
            "business_name": "",
            "tin_kind": "ssn",
            "tin": "536-90-4399",
            "address": HOME,
            "signature": name,
            "certified": True,
        }
        values.update(changes)
        tax_status.certify_w9(session=owner, actor=anna, **values)
        owner.commit()

    certify("Anna Smith")
    assert check_row(owner, waiting.id).legal_name == "Anna Smith", "the reviewer checks this"
    reviewer = staff(owner, "compliance")
    identity.approve(session=owner, actor=reviewer, check_id=waiting.id, note="Passport 1234")
    owner.commit()
    certify("Root Holdings Inc", classification="c_corporation", tin_kind="ein", tin="91-1144442")
    after = profile(owner, anna)
    assert after.identity_verified_at is not None, "a company's W-9 names the company"
    assert after.identity_recheck is None


# --- key rotation -------------------------------------------------------------------------------


def test_rotating_the_key_re_encrypts_every_document(owner, company, files, monkeypatch):
    current = os.environ["FIELD_ENCRYPTION_KEY"]
    old = "old:" + base64.b64encode(secrets.token_bytes(32)).decode()
    new = "new:" + base64.b64encode(secrets.token_bytes(32)).decode()

    def keys(*chosen: str) -> None:
        monkeypatch.setenv("FIELD_ENCRYPTION_KEY", ",".join([*chosen, current]))
        settings.get_settings.cache_clear()

    keys(old)
    originals = {letter: (person(owner, company, letter), photo()) for letter in ("A", "B")}
    shown = {letter: upload(owner, actor, data) for letter, (actor, data) in originals.items()}
    before = {letter: check_row(owner, s.id) for letter, s in shown.items()}
    assert {row.key_id for row in before.values()} == {"old"}

    keys(new, old)
    assert identity.rotate_documents(session=owner, current_key="new") == 2
    owner.commit()
    assert identity.rotate_documents(session=owner, current_key="new") == 0
    keys(new)
    reviewer = staff(owner, "compliance")
    for letter, (_, data) in originals.items():
        row = check_row(owner, shown[letter].id)
        assert row.key_id == "new" and row.file_name != before[letter].file_name
        sealed = (files / "uploads" / "identity" / row.file_name).read_bytes()
        assert data[100:164] not in sealed
        got, _, _ = identity.open_document(session=owner, actor=reviewer, check_id=row.id)
        assert got == data, "the same document, under the new key alone"


# --- the hosted provider ------------------------------------------------------------------------


class Delivery:
    """Receives the stand-in's webhooks as the route does: a session of their own each."""

    def __init__(self) -> None:
        self.answers: list[str | int] = []

    def __call__(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            with session_scope("app") as session:
                detail = identity.apply_provider_webhook(
                    session=session, body=body, signature=headers.get("Persona-Signature", "")
                )
        except ValidationFailed:
            self.answers.append(400)
            return 400
        self.answers.append(detail)
        return 200


@pytest.fixture()
def kyc(monkeypatch, company_url):
    """The stand-in provider, configured, delivering its webhooks to the service."""
    server = FakeKyc(API_KEY, WEBHOOK_SECRET, TEMPLATE).start()
    monkeypatch.setenv("KYC_PROVIDER_URL", server.url)
    monkeypatch.setenv("KYC_API_KEY", API_KEY)
    monkeypatch.setenv("KYC_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("KYC_TEMPLATE", TEMPLATE)
    settings.get_settings.cache_clear()
    server.webhook_post = Delivery()
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def _start(owner, actor: Actor) -> tuple[str, Any]:
    url = identity.start_provider_check(session=owner, actor=actor, redirect_url=RETURN_URL)
    owner.commit()
    row = owner.execute(
        text(
            "SELECT * FROM identity_checks WHERE distributor_id = :d AND method = 'provider'"
            " ORDER BY id DESC LIMIT 1"
        ),
        {"d": actor.distributor_id},
    ).one()
    return url, row


def _undelivered(kyc: FakeKyc, inquiry_id: str, outcome: str, reason: str = "") -> bytes:
    """An event the provider made but did not send (the test sends it)."""
    receiver, kyc.webhook_post = kyc.webhook_post, None
    try:
        body, _ = kyc.complete(inquiry_id, outcome, reason)
    finally:
        kyc.webhook_post = receiver
    return body


def test_the_hosted_check_gives_a_one_time_link_and_its_signed_approval_verifies(
    owner, company, kyc
):
    anna = person(owner, company, "A")
    give_money(owner, company, "A")
    url, row = _start(owner, anna)
    assert (row.method, row.status, row.document_type) == ("provider", "pending", None)
    assert row.inquiry_id in kyc.inquiries
    assert url.startswith(f"{kyc.url}/verify/{row.inquiry_id}?token=")
    sent = kyc.requests[0]["json"]["data"]["attributes"]
    assert sent["reference-id"] == f"identity-check-{row.id}"
    assert sent["redirect-uri"] == RETURN_URL
    assert sent["fields"] == {"name-first": "Anna", "name-last": "Root"}
    (started,) = audits(owner, "identity.provider_started")
    assert started.after == {"check_id": row.id, "inquiry_id": row.inquiry_id}
    assert identity.my_status(session=owner, actor=anna).provider_available
    with pytest.raises(ValidationFailed, match="provider decides its own checks"):
        identity.approve(
            session=owner, actor=staff(owner, "compliance"), check_id=row.id, note="Looks fine"
        )
    owner.rollback()

    # The person completes the hosted page; the provider signs and sends the result.
    assert httpx.get(url).status_code == 200
    token = parse_qs(urlsplit(url).query)["token"][0]
    done = httpx.post(
        f"{kyc.url}/verify/{row.inquiry_id}/complete",
        data={"token": token, "outcome": "approved"},
    )
    assert done.status_code == 303
    assert kyc.webhook_post.answers == [f"check {row.id} approved"]
    assert check_row(owner, row.id).status == "approved"
    assert check_row(owner, row.id).reason == "Verified by the identity provider"
    assert profile(owner, anna).identity_verified_at is not None
    assert "identity" not in reasons(owner, company.people["A"])
    assert len(told(owner, anna.user_id, "identity.approved")) == 1
    (decided,) = audits(owner, "identity.approved")
    assert decided.actor_id is None and decided.actor_label == "identity provider"

    with pytest.raises(NotFound, match="no document"):
        identity.open_document(session=owner, actor=staff(owner, "compliance"), check_id=row.id)


def test_a_declined_check_is_rejected_with_the_providers_reason(owner, company, kyc):
    anna = person(owner, company, "A")
    _, row = _start(owner, anna)
    kyc.complete(row.inquiry_id, "declined", "The selfie does not match the document photo.")
    assert kyc.webhook_post.answers == [f"check {row.id} rejected"]
    decided = check_row(owner, row.id)
    assert decided.status == "rejected"
    assert decided.reason == "The selfie does not match the document photo."
    assert profile(owner, anna).identity_verified_at is None
    (words,) = told(owner, anna.user_id, "identity.rejected")
    assert "The selfie does not match the document photo." in words


def test_the_same_event_twice_is_applied_once(owner, company, kyc):
    anna = person(owner, company, "A")
    _, row = _start(owner, anna)
    body, _ = kyc.complete(row.inquiry_id, "approved")
    owner.commit()
    counts = _counts(owner)
    for _ in range(2):
        assert (
            identity.apply_provider_webhook(session=owner, body=body, signature=kyc.sign(body))
            == "already applied"
        )
        owner.commit()
    assert _counts(owner) == counts
    assert kyc.redeliver() == []


def _counts(owner) -> tuple:
    return owner.execute(
        text(
            "SELECT (SELECT count(*) FROM identity_provider_events),"
            " (SELECT count(*) FROM audit_logs), (SELECT count(*) FROM messages),"
            " (SELECT string_agg(status, ',' ORDER BY id) FROM identity_checks)"
        )
    ).one()


def test_a_forged_stale_or_tampered_webhook_is_refused_and_records_nothing(owner, company, kyc):
    anna = person(owner, company, "A")
    _, row = _start(owner, anna)
    body = _undelivered(kyc, row.inquiry_id, "declined", "Document expired")
    approved = body.replace(b'"inquiry.declined"', b'"inquiry.approved"')
    assert approved != body
    counts = _counts(owner)
    for forged_body, signature, message in (
        (body, signature_header(body, "wbhsec_guessed"), "does not match"),
        (body, kyc.sign(body, int(time.time()) - 3600), "too old"),
        (body, kyc.sign(body, int(time.time()) + 3600), "far in the future"),
        (approved, kyc.sign(body), "does not match"),
        (body, "", "missing or garbled"),
        (body, "t=abc,v1=zz", "missing or garbled"),
        (b"not json", kyc.sign(b"not json"), "not JSON"),
    ):
        with pytest.raises(ValidationFailed, match=message):
            identity.apply_provider_webhook(session=owner, body=forged_body, signature=signature)
        owner.rollback()
    assert _counts(owner) == counts, "nothing recorded, nothing decided"
    assert check_row(owner, row.id).status == "pending"

    applied = identity.apply_provider_webhook(session=owner, body=body, signature=kyc.sign(body))
    owner.commit()
    assert applied == f"check {row.id} rejected"


def test_an_event_of_an_unknown_inquiry_is_recorded_and_ignored(owner, company, kyc):
    anna = person(owner, company, "A")
    _, row = _start(owner, anna)
    event_id = "evt_" + uuid.uuid4().hex[:24]
    body = json.dumps(
        {
            "data": {
                "type": "event",
                "id": event_id,
                "attributes": {
                    "name": "inquiry.approved",
                    "created-at": "2026-03-04T05:06:07.890Z",
                    "payload": {
                        "data": {
                            "type": "inquiry",
                            "id": "inq_" + uuid.uuid4().hex[:24],
                            "attributes": {
                                "status": "approved",
                                "reference-id": f"identity-check-{row.id}",
                            },
                        }
                    },
                },
            }
        }
    ).encode()
    detail = identity.apply_provider_webhook(session=owner, body=body, signature=kyc.sign(body))
    owner.commit()
    assert detail == "no check of this app"
    recorded = owner.execute(
        text("SELECT outcome FROM identity_provider_events WHERE id = :e"), {"e": event_id}
    ).scalar()
    assert recorded == "approved"
    assert check_row(owner, row.id).status == "pending", "the reference alone decides nothing"
    assert profile(owner, anna).identity_verified_at is None


def test_a_started_inquiry_and_an_expiry_decide_as_they_should(owner, company, kyc):
    anna = person(owner, company, "A")
    _, row = _start(owner, anna)
    body = _undelivered(kyc, row.inquiry_id, "completed")
    assert identity.apply_provider_webhook(session=owner, body=body, signature=kyc.sign(body)) == (
        "ignored"
    )
    owner.commit()
    assert check_row(owner, row.id).status == "pending"
    kyc.complete(row.inquiry_id, "expired")
    assert check_row(owner, row.id).status == "expired"
    kyc.complete(row.inquiry_id, "approved")
    assert kyc.webhook_post.answers[-1] == f"check {row.id} is expired already"
    assert profile(owner, anna).identity_verified_at is None


def test_a_new_upload_withdraws_a_pending_hosted_check_whose_late_result_changes_nothing(
    owner, company, kyc, files
):
    anna = person(owner, company, "A")
    _, row = _start(owner, anna)
    upload(owner, anna)
    assert check_row(owner, row.id).status == "withdrawn"
    kyc.complete(row.inquiry_id, "approved")
    assert kyc.webhook_post.answers == [f"check {row.id} is withdrawn already"]
    assert profile(owner, anna).identity_verified_at is None


def test_when_the_provider_is_down_or_refuses_nothing_is_stored(owner, company, kyc, monkeypatch):
    anna = person(owner, company, "A")
    kyc.failing = 10
    with pytest.raises(ValidationFailed, match="cannot be reached"):
        identity.start_provider_check(session=owner, actor=anna, redirect_url=RETURN_URL)
    owner.rollback()
    kyc.failing = 0
    monkeypatch.setenv("KYC_TEMPLATE", "itmpl_unknown")
    settings.get_settings.cache_clear()
    with pytest.raises(ValidationFailed, match="refused to start: .*template"):
        identity.start_provider_check(session=owner, actor=anna, redirect_url=RETURN_URL)
    owner.rollback()
    monkeypatch.setenv("KYC_TEMPLATE", TEMPLATE)
    settings.get_settings.cache_clear()
    kyc.stop()
    with pytest.raises(ValidationFailed, match="cannot be reached"):
        identity.start_provider_check(session=owner, actor=anna, redirect_url=RETURN_URL)
    owner.rollback()
    assert owner.execute(text("SELECT count(*) FROM identity_checks")).scalar() == 0
    assert audits(owner, "identity.provider_started") == []


def test_without_a_provider_the_person_uploads_a_document(owner, company, monkeypatch):
    for name in ("KYC_PROVIDER_URL", "KYC_API_KEY", "KYC_WEBHOOK_SECRET", "KYC_TEMPLATE"):
        monkeypatch.delenv(name, raising=False)
    settings.get_settings.cache_clear()
    try:
        anna = person(owner, company, "A")
        assert not identity.my_status(session=owner, actor=anna).provider_available
        with pytest.raises(ValidationFailed, match="upload yours"):
            identity.start_provider_check(session=owner, actor=anna, redirect_url=RETURN_URL)
        owner.rollback()
        assert owner.execute(text("SELECT count(*) FROM identity_checks")).scalar() == 0
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def test_my_status_is_the_persons_own(owner, company, files):
    anna = person(owner, company, "A")
    status = identity.my_status(session=owner, actor=anna)
    assert (status.verified, status.latest, status.recheck) == (False, None, "")
    upload(owner, anna)
    latest = identity.my_status(session=owner, actor=anna).latest
    assert latest is not None and latest.status_label == "Waiting for review"
    assert identity.my_status(session=owner, actor=person(owner, company, "B")).latest is None
    with pytest.raises(PermissionDenied):
        identity.my_status(session=owner, actor=staff(owner, "compliance"))
