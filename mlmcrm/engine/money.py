"""Exact integer arithmetic for amounts: overflow-safe products and one rounding per line."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

import numpy as np

INT64_SAFE = 2**62
DECIMAL_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
}


def _max_abs(values: np.ndarray | int) -> int:
    if isinstance(values, int | np.integer):
        return abs(int(values))
    if values.size == 0:
        return 0
    return max(abs(int(values.max())), abs(int(values.min())))


def multiply(a: np.ndarray, b: np.ndarray | int, *, bound: int | None = None) -> np.ndarray:
    """Exact elementwise ``a * b``: int64 when it cannot overflow, else Python integers.

    ``bound``, when given, is a known upper bound of ``abs(a)`` (saves a pass over ``a``).
    """
    if isinstance(b, int) and abs(b) >= INT64_SAFE:
        return np.asarray(a).astype(object) * b
    limit = _max_abs(a) if bound is None else bound
    if a.dtype != object and limit * _max_abs(b) < INT64_SAFE:
        return a * b
    other = b.astype(object) if isinstance(b, np.ndarray) else b
    return a.astype(object) * other


def divide_round(numerator: np.ndarray, denominator: int, mode: str) -> np.ndarray:
    """Round ``numerator / denominator`` to an integer, exactly, with a plan rounding mode.

    Modes follow :mod:`decimal`: ``half_up`` rounds halves away from zero, ``half_even`` to the
    even neighbour, ``down`` towards zero, ``up`` away from zero; negative values round as the
    mirror image of positive ones.

    Args:
        numerator: Integer array (int64 or Python ints).
        denominator: A positive integer.
        mode: ``half_up``, ``half_even``, ``down`` or ``up``.

    Returns:
        The rounded quotients as int64.
    """
    numerator = np.asarray(numerator)
    if numerator.dtype != object and denominator >= INT64_SAFE:
        numerator = numerator.astype(object)
    if numerator.dtype != object and (numerator.size == 0 or numerator.min() >= 0):
        return _divide_round_natural(numerator, denominator, mode)
    negative = numerator < 0
    magnitude = np.abs(numerator)
    if magnitude.dtype == object:
        quotient = magnitude // denominator
        remainder = magnitude - quotient * denominator
    else:
        quotient, remainder = np.divmod(magnitude, denominator)
    if mode == "half_up":
        bump = 2 * remainder >= denominator
    elif mode == "half_even":
        twice = 2 * remainder
        bump = (twice > denominator) | ((twice == denominator) & (quotient % 2 == 1))
    elif mode == "up":
        bump = remainder > 0
    else:
        bump = np.zeros(numerator.shape, dtype=bool)
    quotient = quotient + bump.astype(np.int64)
    result = np.where(negative, -quotient, quotient)
    return np.asarray(result).astype(np.int64)


def _divide_round_natural(numerator: np.ndarray, denominator: int, mode: str) -> np.ndarray:
    """:func:`divide_round` for non-negative int64 numerators, with fewer temporaries."""
    quotient, remainder = np.divmod(numerator, denominator)
    if mode == "half_up":
        quotient += remainder >= denominator - denominator // 2
    elif mode == "half_even":
        half = denominator // 2
        if denominator % 2:
            quotient += remainder > half
        else:
            quotient += (remainder > half) | ((remainder == half) & (quotient % 2 == 1))
    elif mode == "up":
        quotient += remainder > 0
    return quotient


def round_decimal(value: Decimal, places: int, mode: str) -> Decimal:
    """Round a decimal to ``places`` with a plan rounding mode (the reference semantics)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=DECIMAL_MODES[mode])


def scaled_integers(values: list[Decimal]) -> tuple[list[int], int]:
    """Write decimals as integers over a common power of ten: ``values[i] = ints[i] / scale``."""
    digits = 0
    for value in values:
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < 0:
            digits = max(digits, -exponent)
    scale = 10**digits
    return [int(value * scale) for value in values], scale
