"""US tax ids, the recipient's copy of Form 1099-NEC (PDF) and the yearly filing file (CSV).

A company reports what it paid each US payee in a calendar year on Form 1099-NEC: box 1 holds
the nonemployee compensation (commissions and bonuses), box 2 is checked when the company sold
$5,000 or more of consumer products to the payee for resale, box 4 holds the federal income tax
withheld (backup withholding). The payee receives Copy B; the IRS receives the same figures with
the payee's full tax id.

Everything here is pure: no database, no clock. The service that gathers the figures calls it.

Tax ids are private: a message never repeats the number it rejects, and the recipient's copy is
built from the last 4 digits only (the IRS allows a truncated TIN on the payee's statement), so
the full number cannot reach the PDF. Only the filing file carries full numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from fpdf import FPDF
from stdnum.exceptions import InvalidFormat, InvalidLength, ValidationError
from stdnum.us import ein as stdnum_ein
from stdnum.us import ssn as stdnum_ssn

from mlmcrm.errors import ValidationFailed
from mlmcrm.services.platform.exports import csv_text

TIN_KINDS = ("ssn", "ein")
"""The kinds of taxpayer identification number a payee may give: a person's SSN, a firm's EIN."""

FIRST_TAX_YEAR = 2020
"""Form 1099-NEC reports nonemployee compensation from tax year 2020 (before: 1099-MISC box 7)."""

_GOLDEN_PARACHUTE_FROM = 2025
"""The tax year from which box 3 holds excess golden parachute payments (reserved before)."""

_TIN_NAMES = {"ssn": "SSN", "ein": "EIN"}
_TIN_EXAMPLES = {"ssn": "123-45-6789", "ein": "12-3456789"}
_TIN_MASKS = {"ssn": "***-**-", "ein": "**-***"}
_KIND_MESSAGE = "Choose the kind of tax id: SSN (a person) or EIN (a business)."
_NINE_DIGITS = re.compile(r"[0-9]{9}")
_FOUR_DIGITS = re.compile(r"[0-9]{4}")
_CENT = Decimal("0.01")


# --- Tax ids ---------------------------------------------------------------------------------


def _tin_kind(kind: str) -> str:
    """``kind`` as one of :data:`TIN_KINDS` (any case, spaces around ignored)."""
    normalised = kind.strip().lower() if isinstance(kind, str) else ""
    if normalised not in TIN_KINDS:
        raise ValidationFailed(_KIND_MESSAGE)
    return normalised


def _tin_characters(text: str) -> str:
    """``text`` without spaces and dashes of any kind; full-width digits become plain digits."""
    compatible = unicodedata.normalize("NFKC", text)
    return "".join(
        char
        for char in compatible
        if not char.isspace() and unicodedata.category(char) != "Pd" and char != "\u2212"
    )


def _ssn_problem(digits: str) -> str:
    """Why stdnum refused the SSN ``digits`` (9 digits), in words that do not repeat it."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area.startswith("9"):
        return "its first three digits cannot be 000, 666 or 900 to 999."
    if group == "00":
        return "its middle two digits cannot be 00."
    if serial == "0000":
        return "its last four digits cannot be 0000."
    return "it is a widely published number that cannot be used."


def check_tax_id(kind: str, text: str) -> str:
    """The 9 digits of a valid SSN or EIN typed with or without spaces and dashes.

    The number is checked with python-stdnum: an SSN's area, group and serial must be ones the
    Social Security Administration can issue; an EIN's first two digits must be a prefix the IRS
    assigns. Messages never repeat the number.

    Args:
        kind: ``"ssn"`` or ``"ein"`` (see :data:`TIN_KINDS`).
        text: The number as typed, such as ``123-45-6789`` or ``12 3456789``.

    Returns:
        The nine digits, such as ``"123456789"``.

    Raises:
        ValidationFailed: An unknown kind, an empty number, anything but 9 digits, or a number
            that cannot have been issued.
    """
    tin_kind = _tin_kind(kind)
    name = _TIN_NAMES[tin_kind]
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed(
            f"Enter the {name}: its 9 digits, such as {_TIN_EXAMPLES[tin_kind]}."
        )
    digits = _tin_characters(text)
    length_message = f"An {name} has 9 digits, such as {_TIN_EXAMPLES[tin_kind]}."
    if not _NINE_DIGITS.fullmatch(digits):
        raise ValidationFailed(length_message)
    module = stdnum_ssn if tin_kind == "ssn" else stdnum_ein
    try:
        valid = module.validate(digits)
    except (InvalidFormat, InvalidLength) as error:
        raise ValidationFailed(length_message) from error
    except ValidationError as error:
        if tin_kind == "ssn":
            reason = _ssn_problem(digits)
        else:
            reason = (
                "its first two digits are not a prefix the IRS uses. Check the number on the "
                "IRS notice that assigned it."
            )
        raise ValidationFailed(f"That number is not a valid {name}: {reason}") from error
    return str(valid)


def masked_tin(kind: str, last4: str) -> str:
    """A tax id shown by its last 4 digits: ``***-**-1234`` (SSN) or ``**-***1234`` (EIN).

    Raises:
        ValidationFailed: An unknown kind, or ``last4`` is not 4 digits.
    """
    tin_kind = _tin_kind(kind)
    if not isinstance(last4, str) or not _FOUR_DIGITS.fullmatch(last4):
        raise ValidationFailed(
            f"The last 4 digits of the {_TIN_NAMES[tin_kind]} are needed to show it masked."
        )
    return _TIN_MASKS[tin_kind] + last4


def _checked_tin(kind: str, text: str, which: str) -> str:
    """:func:`check_tax_id`, its message after ``Check {which}.`` (whose number it is)."""
    try:
        return check_tax_id(kind, text)
    except ValidationFailed as error:
        raise ValidationFailed(f"Check {which}. {error}") from error


# --- Amounts and years -----------------------------------------------------------------------


def _check_year(year: int) -> int:
    if isinstance(year, bool) or not isinstance(year, int):
        raise ValidationFailed("The tax year must be a year such as 2025.")
    if not FIRST_TAX_YEAR <= year <= 9998:
        raise ValidationFailed(
            f"Form 1099-NEC reports tax years from {FIRST_TAX_YEAR} on: choose another year."
        )
    return year


def _amount(value: Decimal, label: str) -> Decimal:
    """``value`` rounded to cents (half up); a box of a 1099 is never negative."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{label} must be a Decimal, not {type(value).__name__}.")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValidationFailed(f"{label} must be an amount in dollars and cents.")
    if amount < 0:
        raise ValidationFailed(f"{label} cannot be negative.")
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _dollars(amount: Decimal) -> str:
    """An amount already rounded to cents as ``$1,234.56``."""
    return f"${amount:,.2f}"


# --- Forms -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payer:
    """The company that paid, as it appears on every form it files.

    Attributes:
        name: The company's legal name.
        address_lines: Street address, then city, state and ZIP code (and country if not US).
        phone: The telephone number payees call with questions about the form.
        tin: The company's EIN, 9 digits (dashes allowed).
    """

    name: str
    address_lines: tuple[str, ...]
    phone: str
    tin: str


@dataclass(frozen=True)
class NecRecipientCopy:
    """What Copy B of one payee's Form 1099-NEC shows.

    Attributes:
        year: The calendar (tax) year of the payments.
        payer: The company that paid.
        recipient_name: The payee's name (a person's name, or the business's legal name).
        business_name: A business or "doing business as" name, or ``""``.
        address_lines: Street address, then city, state and ZIP code (and country if not US).
        tin_kind: ``"ssn"`` or ``"ein"``.
        tin_last4: The last 4 digits of the payee's tax id: the copy never gets the full number.
        account_number: The distributor code (tells the payee's forms apart).
        box1: Nonemployee compensation.
        box2: Direct sales of $5,000 or more of consumer products to the payee for resale.
        box4: Federal income tax withheld (backup withholding).
        corrected: A corrected form replacing one furnished before.
    """

    year: int
    payer: Payer
    recipient_name: str
    business_name: str
    address_lines: tuple[str, ...]
    tin_kind: str
    tin_last4: str
    account_number: str
    box1: Decimal
    box2: bool
    box4: Decimal
    corrected: bool = False


@dataclass(frozen=True)
class NecFilingRow:
    """One payee's line in the filing file sent to the IRS (full tax id included).

    Attributes:
        recipient_tin_kind: ``"ssn"`` or ``"ein"``.
        recipient_tin: The payee's full tax id, 9 digits (dashes allowed).
        recipient_name: The payee's name.
        business_name: A business or "doing business as" name, or ``""``.
        street: Street address (including apartment number).
        city: City or town.
        state: Two-letter state code (or province).
        zip_code: ZIP code (or foreign postal code).
        country: Country code, such as ``US``.
        account_number: The distributor code.
        box1: Nonemployee compensation.
        box2: Direct sales of $5,000 or more of consumer products to the payee for resale.
        box4: Federal income tax withheld (backup withholding).
    """

    recipient_tin_kind: str
    recipient_tin: str
    recipient_name: str
    business_name: str
    street: str
    city: str
    state: str
    zip_code: str
    country: str
    account_number: str
    box1: Decimal
    box2: bool
    box4: Decimal


# --- The recipient's copy (PDF) --------------------------------------------------------------

_NOT_DECOMPOSED = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ħ": "H",
        "ħ": "h",
        "ı": "i",
        "Œ": "OE",
        "œ": "oe",
        "ŀ": "l",
        "Ŀ": "L",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": ",",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u2022": "*",
        "\u20ac": "EUR",
    }
)
"""Letters and signs outside Latin-1 that Unicode does not split into a base and an accent."""


def _latin1(value: str) -> str:
    """``value`` as text the PDF core fonts can draw (Latin-1), on one line.

    Latin-1 letters (``é``, ``ñ``, ``ß``) stay; other accented letters lose their accent
    (``ő`` → ``o``, ``Ł`` → ``L``); full-width forms become plain ones; typographic quotes and
    dashes become plain ones; what is left (Chinese, Cyrillic, emoji…) becomes ``?``, one per
    character, so the reader sees that something is missing. Control characters become spaces.
    """
    text = unicodedata.normalize("NFC", str(value).translate(_NOT_DECOMPOSED))
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            kept.append(" ")
        elif category.startswith("C"):
            continue
        elif ord(char) < 256:
            kept.append(char)
        else:
            base = unicodedata.normalize("NFKD", char).translate(_NOT_DECOMPOSED)
            plain = "".join(
                part for part in base if ord(part) < 256 and not unicodedata.combining(part)
            )
            kept.append(plain or "?")
    return " ".join("".join(kept).split())


_FONT = "Helvetica"
_LEFT = 10.0
_TOP = 12.0
_LEFT_WIDTH = 88.0
_MIDDLE_WIDTH = 58.0
_RIGHT_WIDTH = 50.0
_FORM_WIDTH = _LEFT_WIDTH + _MIDDLE_WIDTH + _RIGHT_WIDTH
_LABEL_SIZE = 6.0
_VALUE_SIZE = 9.0

_IMPORTANT = (
    "This is important tax information and is being furnished to the IRS. If you are required "
    "to file a return, a negligence penalty or other sanction may be imposed on you if this "
    "income is taxable and the IRS determines that it has not been reported."
)
_INSTRUCTIONS = (
    (
        "",
        "You received this form instead of Form W-2 because the payer did not consider you an "
        "employee and did not withhold income tax or social security and Medicare tax. If you "
        "believe you are an employee and cannot get the payer to correct this form, report the "
        "amount shown in box 1 on the line for wages on Form 1040 and complete Form 8919; see "
        "Pub. 1779, Independent Contractor or Employee.",
    ),
    (
        "Recipient's taxpayer identification number (TIN).",
        "For your protection, this form shows only the last four digits of your TIN. However, "
        "the payer has reported your complete TIN to the IRS.",
    ),
    (
        "Account number.",
        "The number the payer assigned to your account (your distributor code).",
    ),
    (
        "Box 1.",
        "Shows nonemployee compensation. If the amount in this box is self-employment income, "
        "report it on Schedule C or F (Form 1040) if a sole proprietor, or on Form 1065 and "
        "Schedule K-1 (Form 1065) if a partnership, and complete Schedule SE (Form 1040). If it "
        "is not self-employment income (for example, income from a sporadic activity or a "
        'hobby), report it on the "Other income" line of Schedule 1 (Form 1040).',
    ),
    (
        "Box 2.",
        "If checked, consumer products totaling $5,000 or more were sold to you for resale, on "
        "a buy-sell, a deposit-commission, or other basis. Any income from the sale of these "
        "products should generally be reported on Schedule C (Form 1040).",
    ),
    (
        "Box 4.",
        "Shows backup withholding. A payer must backup withhold on certain payments if you did "
        "not give your TIN to the payer; see Form W-9. Include this amount on your income tax "
        "return as tax withheld.",
    ),
    (
        "Boxes 5-7.",
        "Show state income tax withheld and the income reported to the state, if any.",
    ),
    (
        "Future developments.",
        "For the latest information about developments related to Form 1099-NEC and its "
        "instructions, such as legislation enacted after they were published, go to "
        "www.irs.gov/Form1099NEC.",
    ),
)


class _Form:
    """Drawing helpers over an :class:`FPDF` page: boxes, small labels and values that fit."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf

    def box(self, x: float, y: float, width: float, height: float) -> None:
        self.pdf.rect(x, y, width, height)

    def label(self, x: float, y: float, width: float, text: str, *, bold: bool = False) -> float:
        """A small caption wrapped to ``width`` at the top left of a box; the y below it."""
        self.pdf.set_font(_FONT, "B" if bold else "", _LABEL_SIZE)
        self.pdf.set_xy(x, y + 0.4)
        self.pdf.multi_cell(width, 2.6, _latin1(text), new_x="LEFT", new_y="NEXT")
        return self.pdf.get_y()

    def value(
        self,
        x: float,
        y: float,
        width: float,
        text: str,
        *,
        size: float = _VALUE_SIZE,
        style: str = "",
        align: str = "L",
    ) -> None:
        """One line of text at ``(x, y)``, smaller or cut short (``...``) to fit ``width``."""
        line = _latin1(text)
        while True:
            self.pdf.set_font(_FONT, style, size)
            if size <= 6 or self.pdf.get_string_width(line) <= width - 2:
                break
            size -= 0.5
        if self.pdf.get_string_width(line) > width - 2:
            while line and self.pdf.get_string_width(line + "...") > width - 2:
                line = line[:-1]
            line += "..."
        self.pdf.set_xy(x, y)
        self.pdf.cell(width, size * 0.45, line, align=align)

    def lines(self, x: float, top: float, bottom: float, width: float, texts: list[str]) -> None:
        """Lines of text spread between ``top`` and ``bottom``, smaller when there are many."""
        texts = [text for text in texts if text.strip()]
        if not texts:
            return
        step = min(4.0, (bottom - top) / len(texts))
        size = min(_VALUE_SIZE, step / 0.42)
        for index, text in enumerate(texts):
            self.value(x, top + index * step, width, text, size=size)

    def checkbox(self, x: float, y: float, checked: bool) -> None:
        self.pdf.rect(x, y, 3.2, 3.2)
        if checked:
            self.pdf.set_font(_FONT, "B", 9)
            self.pdf.set_xy(x, y + 0.1)
            self.pdf.cell(3.2, 3.0, "X", align="C")


def _street_and_city(address_lines: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The street box's lines and the city box's line of a payee's address."""
    lines = [line for line in address_lines if line.strip()]
    if len(lines) <= 1:
        return lines, []
    return lines[:-1], lines[-1:]


def recipient_copy_pdf(copy: NecRecipientCopy) -> bytes:
    """Copy B of Form 1099-NEC for the recipient, as a one-page letter-size PDF.

    The layout follows the official Copy B (payer and recipient on the left, the boxes in the
    middle, the title and the notice on the right), with the instructions for the recipient
    below it. The recipient's TIN is masked (``***-**-1234``); the payer's EIN is shown in full.
    Text outside Latin-1 is transliterated or replaced (the core Helvetica font draws only
    Latin-1). The creation date is January 1 of the following year (UTC), so the same copy
    always gives the same bytes.

    Raises:
        ValidationFailed: A year before 2020, a negative amount, the payer's EIN not valid, or
            the recipient's TIN kind or last 4 digits not usable.
    """
    year = _check_year(copy.year)
    payer_tin = _checked_tin("ein", copy.payer.tin, "the payer's EIN")
    recipient_tin = masked_tin(copy.tin_kind, copy.tin_last4)
    box1 = _amount(copy.box1, "Box 1 (nonemployee compensation)")
    box4 = _amount(copy.box4, "Box 4 (federal income tax withheld)")

    pdf = FPDF(orientation="portrait", unit="mm", format="letter")
    pdf.set_auto_page_break(False)
    pdf.set_margins(_LEFT, _TOP, _LEFT)
    pdf.set_creation_date(datetime(year + 1, 1, 1, tzinfo=UTC))
    pdf.set_title(f"Form 1099-NEC {year} Copy B - {copy.recipient_name}")
    pdf.set_subject(f"Nonemployee Compensation {year}")
    pdf.set_author(copy.payer.name)
    pdf.set_lang("en-US")
    pdf.set_line_width(0.25)
    pdf.add_page()
    form = _Form(pdf)

    left, middle = _LEFT, _LEFT + _LEFT_WIDTH
    right = middle + _MIDDLE_WIDTH
    top = _TOP + 6.0

    # Above the form: CORRECTED when this copy replaces one furnished before.
    if copy.corrected:
        form.checkbox(middle - 24.0, _TOP, True)
        form.value(middle - 20.0, _TOP + 0.2, 40.0, "CORRECTED", size=10, style="B")

    # Row 1: the payer; the form's number and year; the title.
    payer_bottom = top + 34.0
    form.box(left, top, _LEFT_WIDTH, payer_bottom - top)
    below = form.label(
        left + 0.5,
        top,
        _LEFT_WIDTH - 1,
        "PAYER'S name, street address, city or town, state or province, country, ZIP or "
        "foreign postal code, and telephone no.",
    )
    payer_lines = [copy.payer.name, *copy.payer.address_lines, copy.payer.phone]
    form.lines(left + 1, below + 1.0, payer_bottom - 1.0, _LEFT_WIDTH - 2, payer_lines)

    form.box(middle, top, _MIDDLE_WIDTH, payer_bottom - top)
    form.value(middle + 1, top + 2, _MIDDLE_WIDTH - 2, "OMB No. 1545-0116", size=7)
    form.value(middle + 1, top + 8, _MIDDLE_WIDTH - 2, "Form 1099-NEC", size=12, style="B")
    form.value(middle + 1, top + 17, _MIDDLE_WIDTH - 2, "For calendar year", size=7)
    form.value(middle + 1, top + 22, _MIDDLE_WIDTH - 2, str(year), size=16, style="B")

    form.value(right + 1, top + 6, _RIGHT_WIDTH - 2, "Nonemployee", size=13, style="B")
    form.value(right + 1, top + 12, _RIGHT_WIDTH - 2, "Compensation", size=13, style="B")

    # Rows 2 to 6 on the left: TINs, name, street, city, account number.
    tin_top, name_top = payer_bottom, payer_bottom + 10.0
    street_top, city_top = name_top + 14.0, name_top + 24.0
    account_top, form_bottom = city_top + 10.0, city_top + 20.0
    half = _LEFT_WIDTH / 2
    form.box(left, tin_top, half, name_top - tin_top)
    form.label(left + 0.5, tin_top, half - 1, "PAYER'S TIN")
    form.value(left + 1, tin_top + 4.5, half - 2, f"{payer_tin[:2]}-{payer_tin[2:]}")
    form.box(left + half, tin_top, half, name_top - tin_top)
    form.label(left + half + 0.5, tin_top, half - 1, "RECIPIENT'S TIN")
    form.value(left + half + 1, tin_top + 4.5, half - 2, recipient_tin)

    form.box(left, name_top, _LEFT_WIDTH, street_top - name_top)
    below = form.label(left + 0.5, name_top, _LEFT_WIDTH - 1, "RECIPIENT'S name")
    form.lines(
        left + 1,
        below + 0.5,
        street_top - 1.0,
        _LEFT_WIDTH - 2,
        [copy.recipient_name, copy.business_name],
    )

    street_lines, city_lines = _street_and_city(copy.address_lines)
    form.box(left, street_top, _LEFT_WIDTH, city_top - street_top)
    below = form.label(
        left + 0.5, street_top, _LEFT_WIDTH - 1, "Street address (including apt. no.)"
    )
    form.lines(left + 1, below + 0.5, city_top - 0.5, _LEFT_WIDTH - 2, street_lines)

    form.box(left, city_top, _LEFT_WIDTH, account_top - city_top)
    below = form.label(
        left + 0.5,
        city_top,
        _LEFT_WIDTH - 1,
        "City or town, state or province, country, and ZIP or foreign postal code",
    )
    form.lines(left + 1, below + 0.5, account_top - 0.5, _LEFT_WIDTH - 2, city_lines)

    form.box(left, account_top, _LEFT_WIDTH, form_bottom - account_top)
    form.label(left + 0.5, account_top, _LEFT_WIDTH - 1, "Account number (see instructions)")
    form.value(left + 1, account_top + 4.5, _LEFT_WIDTH - 2, copy.account_number)

    # The boxes in the middle: 1 to 4, then 5 to 7 across the middle and the right.
    box1_top, box2_top = tin_top, tin_top + 10.0
    box3_top, box4_top = box2_top + 14.0, box2_top + 24.0
    states_top = account_top
    form.box(middle, box1_top, _MIDDLE_WIDTH, box2_top - box1_top)
    form.label(middle + 0.5, box1_top, _MIDDLE_WIDTH - 1, "1 Nonemployee compensation")
    form.value(middle + 1, box1_top + 4.5, _MIDDLE_WIDTH - 2, _dollars(box1), style="B")

    form.box(middle, box2_top, _MIDDLE_WIDTH, box3_top - box2_top)
    form.label(
        middle + 0.5,
        box2_top,
        _MIDDLE_WIDTH - 6,
        "2 Payer made direct sales totaling $5,000 or more of consumer products to recipient "
        "for resale",
    )
    form.checkbox(middle + _MIDDLE_WIDTH - 5, box2_top + 5.0, copy.box2)

    form.box(middle, box3_top, _MIDDLE_WIDTH, box4_top - box3_top)
    box3_label = "3 Excess golden parachute payments" if year >= _GOLDEN_PARACHUTE_FROM else "3"
    form.label(middle + 0.5, box3_top, _MIDDLE_WIDTH - 1, box3_label)

    form.box(middle, box4_top, _MIDDLE_WIDTH, states_top - box4_top)
    form.label(middle + 0.5, box4_top, _MIDDLE_WIDTH - 1, "4 Federal income tax withheld")
    form.value(middle + 1, box4_top + 4.5, _MIDDLE_WIDTH - 2, _dollars(box4), style="B")

    state_width = (_MIDDLE_WIDTH + _RIGHT_WIDTH) / 3
    for index, caption in enumerate(
        ("5 State tax withheld", "6 State/Payer's state no.", "7 State income")
    ):
        x = middle + index * state_width
        form.box(x, states_top, state_width, form_bottom - states_top)
        form.label(x + 0.5, states_top, state_width - 1, caption)

    # The right column beside boxes 1 to 4: the copy's name and the notice.
    form.value(right + 1, box1_top + 1.5, _RIGHT_WIDTH - 2, "Copy B", size=11, style="B")
    form.value(right + 1, box1_top + 7.0, _RIGHT_WIDTH - 2, "For Recipient", size=9, style="B")
    pdf.set_font(_FONT, "", 6.5)
    pdf.set_xy(right + 1, box1_top + 13.0)
    pdf.multi_cell(_RIGHT_WIDTH - 2, 2.9, _IMPORTANT)

    # Under the form: its name, as the official copy's last line.
    footer = form_bottom + 1.5
    form.value(left, footer, 40, "Form 1099-NEC", size=8, style="B")
    form.value(left + 28, footer, 40, "(keep for your records)", size=7)
    form.value(left + 66, footer, 50, "www.irs.gov/Form1099NEC", size=7)
    form.value(
        right - 30,
        footer,
        _RIGHT_WIDTH + 30,
        "Department of the Treasury - Internal Revenue Service",
        size=7,
        align="R",
    )

    # The instructions for the recipient.
    y = footer + 12.0
    pdf.line(left, y - 4.0, left + _FORM_WIDTH, y - 4.0)
    form.value(left, y, _FORM_WIDTH, "Instructions for Recipient", size=11, style="B")
    pdf.set_xy(left, y + 7.0)
    for heading, text in _INSTRUCTIONS:
        paragraph = f"**{heading}** {text}" if heading else text
        pdf.set_font(_FONT, "", 8.5)
        pdf.multi_cell(_FORM_WIDTH, 4.0, paragraph, markdown=True, new_x="LEFT", new_y="NEXT")
        pdf.set_y(pdf.get_y() + 1.5)
    return bytes(pdf.output())


# --- The filing file (CSV) -------------------------------------------------------------------

FILING_HEADER = (
    "tax_year",
    "payer_tin",
    "payer_name",
    "recipient_tin_type",
    "recipient_tin",
    "recipient_name",
    "second_name",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "account_number",
    "box1_nonemployee_compensation",
    "box2_direct_sales",
    "box4_federal_income_tax_withheld",
)
"""The columns of :func:`filing_csv`, in order."""


def filing_csv(year: int, payer: Payer, rows: Sequence[NecFilingRow]) -> str:
    """The year's 1099-NEC figures, one line per recipient, for the filing service or software.

    Tax ids are checked again and written as 9 digits; amounts are exact (Decimal rounded half
    up to cents, never a float); box 2 is ``Y`` when checked, else empty. Text that a
    spreadsheet would run as a formula is neutralised.

    Raises:
        ValidationFailed: A year before 2020, the payer's EIN or a recipient's TIN not valid, or
            a negative amount (the message names the recipient's account number).
    """
    tax_year = _check_year(year)
    payer_tin = _checked_tin("ein", payer.tin, "the payer's EIN")
    lines: list[list[object]] = []
    for row in rows:
        whose = f"the recipient with account number {row.account_number}"
        kind = _tin_kind(row.recipient_tin_kind)
        tin = _checked_tin(kind, row.recipient_tin, f"the {_TIN_NAMES[kind]} of {whose}")
        box1 = _amount(row.box1, f"Box 1 (nonemployee compensation) of {whose}")
        box4 = _amount(row.box4, f"Box 4 (federal income tax withheld) of {whose}")
        lines.append(
            [
                tax_year,
                payer_tin,
                payer.name,
                _TIN_NAMES[kind],
                tin,
                row.recipient_name,
                row.business_name,
                row.street,
                row.city,
                row.state,
                row.zip_code,
                row.country,
                row.account_number,
                f"{box1:.2f}",
                "Y" if row.box2 else "",
                f"{box4:.2f}",
            ]
        )
    return csv_text(FILING_HEADER, lines)
