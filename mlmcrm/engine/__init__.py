"""The commission engine: a pure function from a plan and flat arrays to a ledger and state.

The contract is ``COMP_PLAN.md``. The public API::

    plan = load_plan(yaml_text)                     # Plan; raises PlanError naming the field path
    network, orders, refunds, carry, prior = read_inputs(plan, d_csv, o_csv, r_csv, c_csv, l_csv)
    # ...or build Network / Orders / Refunds / Carry / PriorLedger from database arrays, then
    validate(plan, network, orders, refunds, carry, prior)   # InputError(table, row, field)
    result = compute(plan, network, orders, refunds, carry, prior,
                     period_start=start, period_end=end)     # aware datetimes or epoch µs
    result.ledger   # Ledger: numpy columns; result.ledger.take(result.ledger.sort_order())
    result.state    # State: numpy columns per distributor (state.csv)

Inputs use dense row indices (``-1`` = none), int64 micro-units (10**-6) for pv, cv, carry and
prior amounts, int64 microseconds since the epoch for times (``NO_TIME`` = none) and rank
indices into ``plan.ranks``; the external ids (CSV strings or database integers) only travel
along for output. Indices must stay below 2**31 (the ledger stores them as int32).

Everything is vectorised over flat arrays: each tree is ordered depth first once, in C
(:class:`~mlmcrm.engine.trees.Tree`); subtree sums (GV, binary legs, "somebody of rank R in this
leg") are cumulative sums over that order; compressed uplines are found by pointer jumping (a
logarithmic number of whole-array steps). No Python loop runs per distributor, per order or per
tree level; the loops that remain run per plan level, per rank or per distinct percentage.
Money is exact: volumes are integers of ``10**-(6+k)``, percentages integers over a power of
ten, and each ledger line is one exact integer division rounded once with the plan's mode; a
product that could overflow int64 is done with Python integers instead.

Choices where the contract is silent (the README should repeat them):

- **Plan numbers** have at most 6 decimal places; ``rounding.places`` is 0..6. Unknown plan keys
  are errors (``name`` and ``description`` are allowed anywhere as free text). ``binary.ratio``
  is two whole numbers >= 1. ``max_leg_pct`` needs ``min_gv``. Bonus ids may not start with
  ``clawback:``. ``percent_by: rank`` needs ``percents``, ``percent_by: gv`` needs ``tiers``.
- **Rounding modes** follow :mod:`decimal`: ``half_up`` rounds halves away from zero,
  ``half_even`` to the even neighbour, ``down`` towards zero, ``up`` away from zero; a negative
  amount (a clawback) rounds as the mirror image of the positive one.
- **Ties and thresholds**: every threshold is inclusive (``>=``: min_pv, min_gv, tier ``min``,
  activity). A differential upline whose pct equals the highest met so far earns nothing. With
  ``max_leg_pct`` a leg counts ``min(leg, m% x min_gv)`` exactly (no rounding of the cap).
- **Refund ratios** have at most 6 decimal places, like pv and cv. Refunds of an order of this
  period dated on or after ``period-end`` are ignored in this run (they become clawbacks next
  period); refunds of an earlier order dated before ``period-start`` were handled by earlier runs
  and are ignored; orders created on or after ``period-end`` are ignored.
- **Clawbacks**: one line per prior-ledger line of a refunded earlier order, using the sum of that
  order's refund ratios dated in this period: ``-round(sum_of_ratios x amount)``. Prior lines
  whose bonus starts with ``clawback:``, lines without ``source_order_id`` and lines of a bonus
  the plan defines as not order-based are never clawed back; a bonus id the plan no longer has
  is clawed back when its line names an order. Clawback lines go to the original recipient,
  whatever their status now. Matching lines name no order, so a refund never claws back a
  matching bonus paid on the refunded commission; this period's clawback lines are not matched.
- **Terminated people and levels**: with compression ``none`` every upline takes a level,
  terminated and suspended ones included (they are paid nothing); with ``dynamic`` every
  unqualified upline is skipped. Matching generations ("levels below") count the same way, and a
  terminated distributor's own earnings (none) are never matched.
- **Negative PV** (refund deductions): GV, qualifying volume and tiers use it as is; a PV below
  ``active.min_pv`` (default 0) makes the distributor inactive; a tiered basis at or below 0 pays
  nothing; no other bonus pays on volume, so no negative amounts arise except clawbacks.
- **Tiered** with ``basis: cv`` uses the cv of the period's orders (after same-period refunds);
  refunds of earlier orders reduce only PV, as the contract says.
- **Pool**: the pool is ``percent`` of the cv of the period's orders after same-period refunds;
  each share is rounded on its own, so the rounded shares may differ from the pool by a few
  cents; the remainder is not redistributed. A rank with 0 shares does not take part.
- **Binary**: matched volume is consumed only for qualified distributors. The carry-out is
  truncated to 6 decimal places (it has more only after partial refunds) so it can be read back
  as the next carry-in. ``max_carry`` bounds each leg. The cap compares the exact amount before
  rounding; a capped line pays the cap rounded with the plan's mode and is noted ``capped``.
- **Differential**: ``level`` is the number of sponsor steps from the order's distributor.
- **Fast start** with ``exclusive: true`` removes the window orders from every unilevel bonus (not
  from matrix). The window is ``created_at < joined_at + days`` exactly (days may be fractional).
- **Unilevel/matrix with amounts**: the fixed amount is scaled by the share of the order not
  refunded in its own period, then rounded.
- **Rank advancement** pays only qualified distributors (a paid-as rank above the lowest already
  implies ``active``): one line per recipient, the sum of the rank amounts, rounded once.
- **Ranks** with ``legs`` requirements are solved bottom-up by iterating to a fixed point (each
  pass vectorised; the number of passes is the longest chain of nested rank dependencies, 2 or 3
  in real plans).
- **Ledger order**: :func:`compute` returns lines grouped by bonus in a fixed order;
  ``ledger.csv`` (and ``Ledger.sort_order()``) sorts them by recipient (input order), then bonus
  (plan order, then the clawback bonuses by original bonus id), source order (input order),
  source distributor and level. Extra ledger columns after the contract's: ``basis``, ``rate``
  (percent, fixed amount or refund ratio), ``skipped_inactive``, ``skipped_suspended``,
  ``skipped_terminated`` (uplines passed over by dynamic compression before this level),
  ``note`` (``capped``, pool shares) and ``explanation`` (a sentence).
- **Bad input rows** are the file's line numbers (the header is line 1). Two distributors in one
  placement slot are refused whatever the plan; with no binary or matrix bonus any non-empty
  position is a slot name and an empty position is no slot. Empty pv/cv/carry cells mean 0; an
  empty refund ratio means 1. A carry file may name a distributor once. Distributors' ``rank``
  and ``bonus_rank`` must be ranks of the plan. ``--period-end`` must be after
  ``--period-start``.
- **Exactness at any size**: volumes are integers in units of ``10**-(6+k)`` where ``k`` is the
  number of decimals the period's partial refund ratios need (0 without partial refunds, 1 for
  0.5, 6 for 0.333333). They are int64 while the period's total pv + cv + carry in those units
  stays below ``2**61`` (about 2.3 million with ``k = 6``, 23 billion with ``k <= 2``); above
  that they are Python integers (numpy object arrays): exact at any size, several times slower.
  Amounts, counts and indices are int64 either way.
- **Output numbers**: amounts have exactly ``places`` decimals; volumes in ``state.csv`` and the
  ``basis`` column are written exactly in their shortest form (``150``, ``150.09375``).
"""

from mlmcrm.engine.compute import EngineError, Ledger, Result, State, compute
from mlmcrm.engine.inputs import (
    Carry,
    InputError,
    Network,
    Orders,
    PriorLedger,
    Refunds,
    parse_time,
    read_inputs,
    to_micros,
    validate,
)
from mlmcrm.engine.plan import Plan, PlanError, load_plan

__all__ = [
    "Carry",
    "EngineError",
    "InputError",
    "Ledger",
    "Network",
    "Orders",
    "Plan",
    "PlanError",
    "PriorLedger",
    "Refunds",
    "Result",
    "State",
    "compute",
    "load_plan",
    "parse_time",
    "read_inputs",
    "to_micros",
    "validate",
]
