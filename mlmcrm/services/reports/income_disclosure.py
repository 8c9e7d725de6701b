"""The income disclosure statement (IDS) of a calendar year: what participants earned, by rank.

RULES.md asks for a statement per year: for each rank, how many participants, their mean and
median earnings and the share of them earning $0 and at most $1,000, every distributor counted
(zero earners included). Beside the earnings it shows what participants paid the company.

**The year's periods.** The commission periods that are *closed* and whose last day falls in
the year (UTC): ``ends_at`` (exclusive) after January 1 of the year and at most January 1 of the
next one, so December's period is the year's last and a week that spans New Year belongs to the
year it ends in. Periods of the year that are not closed yet are named on the statement.

**Participants.** Every distributor enrolled at any time in the year: joined before the year
ended and not terminated before it began. A termination is read from the audit log
(``distributor.terminate`` / ``distributor.reinstate``): a distributor whose last such event
before the year is a termination, and who was not reinstated during it, does not count. A
distributor terminated with no audit row (imported data) counts. Anyone paid for one of the
year's periods counts whatever their dates say.

**Earnings.** A participant's earnings are what the year's periods credited to them when each
closed: the ``earnings`` and ``clawback`` wallet entries of those periods (commissions and
bonuses less the clawbacks of refunded orders), read from these stored per-period totals rather
than from the ledger lines. A year whose clawbacks exceed its commissions is a negative figure:
it enters the mean and the median as it is, and counts as earning $0 (nothing earned).

**Rank.** The highest paid-as rank (``commission_period_stats.paid_as_rank_id``, ordered by
``ranks.level``: the plan's order, a rank the plan no longer has above its ranks) reached in any
of the year's periods; "No paid-as rank" when none. The statement has a row for each rank
someone reached, lowest first, and one for every participant.

**Figures.** Sums are exact in cents. The mean is the total over the participants; the median is
the middle figure, or the mean of the two middle figures for an even count (taken exactly with
``percentile_disc`` from both ends, not ``percentile_cont``, which works in floating point).
Both are rounded to the cent, half away from zero. Shares are percentages with one decimal.

**Paid to the company.** Purchases: the participant's own orders (not their customers') paid in
the year, before tax, less the part of them refunded by the end of the year. Fees: the payout
fees charged on payouts sent in the year (a ``fee`` wallet entry; the fee stays charged when a
payout is returned). Both as means over the row's participants.

The statement is computed in one SQL statement (a few seconds for a million distributors over
twelve periods); its figures depend only on stored, dated data, so a past year gives the same
statement whenever it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy import text
from sqlmodel import Session

from mlmcrm.errors import ValidationFailed
from mlmcrm.models.orders import counted_sql
from mlmcrm.services.platform import audit, permissions
from mlmcrm.services.platform.actor import Actor
from mlmcrm.services.platform.exports import csv_text
from mlmcrm.services.platform.money import CENT
from mlmcrm.services.platform.period_labels import period_label

PERMISSION = "commissions.read"
FIRST_YEAR = 2000
LOW_EARNINGS = Decimal("1000.00")
"""The second threshold of the statement: the share earning at most this much in the year."""
NO_RANK = "No paid-as rank"
EVERYONE = "All participants"
EXPORT_ACTION = "reports.ids_exported"

_PERIODS = """
SELECT id, starts_at, ends_at, status FROM commission_periods
WHERE ends_at > :start AND ends_at <= :stop
ORDER BY starts_at
"""

_FIGURES = f"""
WITH money AS (
    SELECT w.distributor_id,
           sum(w.amount) FILTER (WHERE w.kind IN ('earnings', 'clawback')) AS earned,
           -sum(w.amount) FILTER (WHERE w.kind = 'fee') AS fees
    FROM wallet_entries w
    WHERE (w.kind IN ('earnings', 'clawback') AND w.period_id = ANY(CAST(:periods AS bigint[])))
       OR (w.kind = 'fee' AND w.created_at >= :start AND w.created_at < :stop)
    GROUP BY w.distributor_id
),
reached AS (
    SELECT s.distributor_id, max(r.level) AS level
    FROM commission_period_stats s
    JOIN ranks r ON r.id = s.paid_as_rank_id
    WHERE s.period_id = ANY(CAST(:periods AS bigint[]))
    GROUP BY s.distributor_id
),
refunded AS (
    SELECT f.order_id, least(sum(f.ratio), 1) AS ratio
    FROM order_refunds f
    WHERE f.refunded_at < :stop
    GROUP BY f.order_id
),
bought AS (
    SELECT o.distributor_id,
           sum(o.subtotal - round(o.subtotal * COALESCE(f.ratio, 0), 2)) AS purchases
    FROM orders o
    LEFT JOIN refunded f ON f.order_id = o.id
    WHERE o.customer_id IS NULL AND {counted_sql("o")}
      AND o.paid_at >= :start AND o.paid_at < :stop
    GROUP BY o.distributor_id
),
last_change AS (
    SELECT DISTINCT ON (a.entity_id) a.entity_id, a.action
    FROM audit_logs a
    WHERE a.entity_type = 'distributor'
      AND a.action IN ('distributor.terminate', 'distributor.reinstate')
      AND a.created_at < :start
    ORDER BY a.entity_id, a.created_at DESC, a.id DESC
),
gone AS (
    SELECT CAST(c.entity_id AS bigint) AS distributor_id
    FROM last_change c
    WHERE c.action = 'distributor.terminate'
      AND NOT EXISTS (
          SELECT 1 FROM audit_logs b
          WHERE b.entity_type = 'distributor' AND b.entity_id = c.entity_id
            AND b.action = 'distributor.reinstate'
            AND b.created_at >= :start AND b.created_at < :stop
      )
),
people AS (
    SELECT d.id AS distributor_id, m.earned, m.fees
    FROM distributors d
    LEFT JOIN money m ON m.distributor_id = d.id
    WHERE m.earned IS NOT NULL
       OR (d.joined_at < :stop AND NOT EXISTS (
               SELECT 1 FROM gone g WHERE g.distributor_id = d.id))
),
figures AS (
    SELECT r.level,
           CAST(COALESCE(p.earned, 0) * 100 AS bigint) AS cents,
           CAST(COALESCE(b.purchases, 0) * 100 AS bigint) AS bought,
           CAST(COALESCE(p.fees, 0) * 100 AS bigint) AS fees
    FROM people p
    LEFT JOIN reached r ON r.distributor_id = p.distributor_id
    LEFT JOIN bought b ON b.distributor_id = p.distributor_id
)
SELECT GROUPING(level) AS everyone, level,
       count(*) AS participants,
       sum(cents) AS earned,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY cents) AS median_low,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY cents DESC) AS median_high,
       count(*) FILTER (WHERE cents <= 0) AS at_zero,
       count(*) FILTER (WHERE cents <= :low) AS at_most_low,
       sum(bought) AS bought,
       sum(fees) AS fees
FROM figures
GROUP BY ROLLUP (level)
"""


@dataclass(frozen=True)
class PeriodUsed:
    """A closed period whose earnings the statement counts."""

    id: int
    label: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class RankRow:
    """The figures of one rank (or of every participant) for the year.

    Amounts are in the company's currency, rounded to the cent; shares are percentages of the
    row's participants with one decimal (``share_of_all``: of every participant). The amounts
    and shares are None when the row has no participant (a company without distributors).
    """

    rank: str
    rank_code: str
    participants: int
    share_of_all: Decimal
    mean: Decimal | None
    median: Decimal | None
    at_zero: int
    share_at_zero: Decimal | None
    at_most_1000: int
    share_at_most_1000: Decimal | None
    mean_purchases: Decimal | None
    mean_fees: Decimal | None


@dataclass(frozen=True)
class IncomeDisclosure:
    """The statement of a year: a row per rank (lowest first), everyone, the periods, the method."""

    year: int
    rows: tuple[RankRow, ...]
    everyone: RankRow
    periods: tuple[PeriodUsed, ...]
    not_closed: tuple[str, ...]
    """Labels of the periods of the year that are not closed yet (not counted)."""
    method: tuple[str, ...]


def _bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def year_choices() -> list[int]:
    """The calendar years a statement can be asked for, this year first (:func:`check_year`)."""
    return list(range(date.today().year, FIRST_YEAR - 1, -1))


def check_year(value: object) -> int:
    """The calendar year ``value`` names, from 2000 to this year.

    Raises:
        ValidationFailed: Not a year, or one out of range.
    """
    this_year = date.today().year
    try:
        year = int(str(value).strip())
    except ValueError as exc:
        raise ValidationFailed("Enter the year as four digits, such as 2025.") from exc
    if not FIRST_YEAR <= year <= this_year:
        raise ValidationFailed(f"Choose a calendar year between {FIRST_YEAR} and {this_year}.")
    return year


def _rounded(cents: Decimal) -> Decimal:
    """An amount in cents (possibly fractional) as money, rounded half away from zero."""
    return (cents / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def _share(part: int, whole: int) -> Decimal:
    return (Decimal(part * 100) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _row(rank: str, code: str, figures: dict[str, Any] | None, everyone: int) -> RankRow:
    count = int(figures["participants"]) if figures else 0
    if not figures or count == 0:
        return RankRow(rank, code, 0, Decimal("0.0"), None, None, 0, None, 0, None, None, None)
    return RankRow(
        rank=rank,
        rank_code=code,
        participants=count,
        share_of_all=_share(count, everyone),
        mean=_rounded(Decimal(int(figures["earned"])) / count),
        median=_rounded(Decimal(int(figures["median_low"]) + int(figures["median_high"])) / 2),
        at_zero=int(figures["at_zero"]),
        share_at_zero=_share(int(figures["at_zero"]), count),
        at_most_1000=int(figures["at_most_low"]),
        share_at_most_1000=_share(int(figures["at_most_low"]), count),
        mean_purchases=_rounded(Decimal(int(figures["bought"])) / count),
        mean_fees=_rounded(Decimal(int(figures["fees"])) / count),
    )


def _method(
    year: int, periods: tuple[PeriodUsed, ...], not_closed: tuple[str, ...]
) -> tuple[str, ...]:
    used = ", ".join(p.label for p in periods)
    lines = [
        f"Periods: the {len(periods)} closed commission period(s) whose last day falls in {year}"
        f" (UTC): {used}."
    ]
    if not_closed:
        lines.append(
            f"Not counted yet: {', '.join(not_closed)} (not closed). The statement covers the"
            " closed periods only; it changes when they close."
        )
    lines += [
        f"Participants: every distributor enrolled at any time in {year}: joined before the"
        " year ended and not terminated before it began (a distributor terminated earlier and"
        " reinstated during the year counts), and anyone paid for one of its periods. People who"
        " earned nothing are counted.",
        "Earnings: what the year's periods credited to each participant when they closed:"
        " commissions and bonuses less clawbacks of refunded orders, before payout fees and"
        " tax withholding. A year whose clawbacks exceed its commissions is counted as the"
        " negative figure it is, and as earning $0.",
        "Rank: the highest paid-as rank the participant reached in any period of the year.",
        "Mean: total earnings divided by the participants. Median: the middle participant's"
        " earnings, or the mean of the two middle ones for an even count, computed exactly."
        " Both are rounded to the cent.",
        "Earning $0: earnings of $0.00 or less. Earning at most $1,000: earnings of $1,000.00"
        " or less (those at $0 included). Shares are of the row's participants.",
        f"Paid to the company (means per participant): purchases are the participant's own"
        f" orders paid in {year}, before tax, less what was refunded of them by the end of the"
        f" year; fees are the payout fees charged on payouts sent in {year}.",
        "Amounts are in the company's currency. The figures come from the stored totals of"
        " closed periods and dated orders and payouts, so this statement can be produced again"
        " for the same year with the same result.",
    ]
    return tuple(lines)


def statement(*, session: Session, actor: Actor, year: int) -> IncomeDisclosure:
    """The income disclosure statement of ``year`` (see the module docstring for the method).

    Args:
        session: The unit of work.
        actor: Who asks (admin, finance or compliance).
        year: The calendar year.

    Returns:
        The statement: a row per rank, lowest first ("No paid-as rank" before the plan's
        ranks reached in the year, in the plan's order), the row of every participant, the
        periods used and the method.

    Raises:
        PermissionDenied: The actor may not read commissions.
        ValidationFailed: A year out of range, or a year with no closed period.
    """
    permissions.require(PERMISSION, actor=actor)
    year = check_year(year)
    start, stop = _bounds(year)
    found = session.execute(text(_PERIODS), {"start": start, "stop": stop}).all()
    periods = tuple(
        PeriodUsed(int(p.id), period_label(p.starts_at, p.ends_at), p.starts_at, p.ends_at)
        for p in found
        if p.status == "closed"
    )
    not_closed = tuple(period_label(p.starts_at, p.ends_at) for p in found if p.status != "closed")
    if not periods:
        raise ValidationFailed(
            f"No commission period of {year} is closed, so there are no earnings to disclose"
            " for it yet. Choose another year, or close its periods first."
        )
    # The planner's cost estimate of this one query makes PostgreSQL compile it (JIT), which
    # took 4 of its 13 seconds on a million distributors: a report run now and then gains
    # nothing from it. LOCAL: only for this unit of work.
    session.execute(text("SET LOCAL jit = off"))
    rows = session.execute(
        text(_FIGURES),
        {
            "periods": [p.id for p in periods],
            "start": start,
            "stop": stop,
            "low": int(LOW_EARNINGS * 100),
        },
    ).mappings()
    by_level: dict[int | None, dict[str, Any]] = {}
    total: dict[str, Any] | None = None
    for raw in rows:
        if raw["everyone"]:
            total = dict(raw)
        else:
            by_level[raw["level"]] = dict(raw)
    everyone = int(total["participants"]) if total else 0
    ranks = session.execute(
        text("SELECT code, name, level FROM ranks WHERE level = ANY(:levels) ORDER BY level"),
        {"levels": [level for level in by_level if level is not None]},
    ).all()
    result = [_row(NO_RANK, "", by_level[None], everyone)] if None in by_level else []
    result += [_row(r.name, r.code, by_level[r.level], everyone) for r in ranks]
    return IncomeDisclosure(
        year=year,
        rows=tuple(result),
        everyone=_row(EVERYONE, "", total, everyone),
        periods=periods,
        not_closed=not_closed,
        method=_method(year, periods, not_closed),
    )


# ----------------------------------------------------------------------------------------------
# The files

CSV_HEADER = (
    "year",
    "rank",
    "rank_code",
    "participants",
    "share_of_all_percent",
    "mean_earnings",
    "median_earnings",
    "earning_zero",
    "earning_zero_percent",
    "earning_at_most_1000",
    "earning_at_most_1000_percent",
    "mean_purchases",
    "mean_fees",
)
"""The columns of :func:`render_csv`, in order."""


def _plain(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def render_csv(disclosure: IncomeDisclosure) -> str:
    """The statement as a CSV table: a line per rank, then the line of every participant."""
    lines = [
        (
            disclosure.year,
            row.rank,
            row.rank_code,
            row.participants,
            format(row.share_of_all, "f"),
            _plain(row.mean),
            _plain(row.median),
            row.at_zero,
            _plain(row.share_at_zero),
            row.at_most_1000,
            _plain(row.share_at_most_1000),
            _plain(row.mean_purchases),
            _plain(row.mean_fees),
        )
        for row in (*disclosure.rows, disclosure.everyone)
    ]
    return csv_text(CSV_HEADER, lines)


def _latin1(value: str) -> str:
    """``value`` as text the PDF core fonts can draw (what Latin-1 lacks becomes ``?``)."""
    return value.encode("latin-1", "replace").decode("latin-1")


def _money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _percent(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}%"


_PDF_COLUMNS = (
    ("Rank", 46.0),
    ("Participants", 22.0),
    ("Share of all", 19.0),
    ("Mean earnings", 25.0),
    ("Median earnings", 25.0),
    ("Earning $0", 19.0),
    ("Earning at most $1,000", 25.0),
    ("Mean purchases", 24.0),
    ("Mean fees", 20.0),
)


def _pdf_cells(row: RankRow) -> tuple[str, ...]:
    return (
        row.rank,
        f"{row.participants:,}",
        f"{row.share_of_all}%",
        _money(row.mean),
        _money(row.median),
        _percent(row.share_at_zero),
        _percent(row.share_at_most_1000),
        _money(row.mean_purchases),
        _money(row.mean_fees),
    )


def render_pdf(disclosure: IncomeDisclosure, *, company: str = "") -> bytes:
    """The statement as a landscape letter-size PDF: the table, then the method.

    Drawn with the core Helvetica font (Latin-1; other letters become ``?``). The creation date
    is January 1 of the following year (UTC), so the same statement always gives the same bytes.
    """
    pdf = FPDF(orientation="landscape", unit="mm", format="letter")
    pdf.set_creation_date(datetime(disclosure.year + 1, 1, 1, tzinfo=UTC))
    title = f"Income disclosure statement {disclosure.year}"
    pdf.set_title(_latin1(f"{company} - {title}" if company else title))
    pdf.set_author(_latin1(company or "mlmcrm"))
    pdf.set_lang("en-US")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(
        width,
        9,
        _latin1(f"{company}: {title}" if company else title),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 10)
    first, last = disclosure.periods[0], disclosure.periods[-1]
    pdf.multi_cell(
        width,
        5,
        _latin1(
            f"What distributors earned in {disclosure.year}, by the highest paid-as rank they"
            f" reached: {disclosure.everyone.participants:,} participants, every distributor"
            f" enrolled in the year, those who earned nothing included."
            + (
                f" Period {first.label}."
                if first == last
                else f" Periods {first.label} to {last.label}."
            )
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 9)
    align = tuple("LEFT" if index == 0 else "RIGHT" for index in range(len(_PDF_COLUMNS)))
    with pdf.table(
        col_widths=tuple(w for _, w in _PDF_COLUMNS),
        text_align=align,
        line_height=5,
        headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230)),
        width=width,
    ) as table:
        table.row([label for label, _ in _PDF_COLUMNS])
        for row in disclosure.rows:
            table.row([_latin1(cell) for cell in _pdf_cells(row)])
        table.row(
            [_latin1(cell) for cell in _pdf_cells(disclosure.everyone)],
            style=FontFace(emphasis="BOLD"),
        )
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width, 7, "How these figures are made", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for paragraph in disclosure.method:
        pdf.multi_cell(width, 4.5, _latin1(paragraph), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    return bytes(pdf.output())


def _company_name(*, session: Session) -> str:
    row = session.execute(
        text("SELECT value FROM company_settings WHERE key = 'company.profile'")
    ).scalar()
    if isinstance(row, dict) and isinstance(row.get("name"), str):
        return row["name"].strip()
    return ""


def _exported(disclosure: IncomeDisclosure, kind: str, *, session: Session, actor: Actor) -> None:
    audit.record(
        session=session,
        actor=actor,
        action=EXPORT_ACTION,
        entity_type="income_disclosure",
        entity_id=disclosure.year,
        after={
            "format": kind,
            "participants": disclosure.everyone.participants,
            "periods": [p.id for p in disclosure.periods],
        },
    )


def statement_csv(*, session: Session, actor: Actor, year: int) -> tuple[str, str]:
    """The statement of ``year`` as CSV and its file name; the export is audited.

    Raises:
        PermissionDenied: The actor may not read commissions.
        ValidationFailed: As :func:`statement`.
    """
    disclosure = statement(session=session, actor=actor, year=year)
    _exported(disclosure, "csv", session=session, actor=actor)
    return render_csv(disclosure), f"income-disclosure-{disclosure.year}.csv"


def statement_pdf(*, session: Session, actor: Actor, year: int) -> tuple[bytes, str]:
    """The statement of ``year`` as PDF and its file name; the export is audited.

    Raises:
        PermissionDenied: The actor may not read commissions.
        ValidationFailed: As :func:`statement`.
    """
    disclosure = statement(session=session, actor=actor, year=year)
    _exported(disclosure, "pdf", session=session, actor=actor)
    data = render_pdf(disclosure, company=_company_name(session=session))
    return data, f"income-disclosure-{disclosure.year}.pdf"
