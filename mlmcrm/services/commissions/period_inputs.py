"""A period's engine inputs, kept with its run: what a plan what-if runs on after the close.

A run loads the trees, statuses, ranks, orders, refunds, carry and clawback lines of one
snapshot; :func:`pack` turns them into one compressed blob (numpy's ``.npz`` of plain arrays,
no pickles, compressed with Zstandard) while the run writes its ledger, and the run's swap
stores it in ``commission_period_inputs``. Closing the period keeps the last run's blob, so a
draft plan can later be run on exactly what the closed period was computed from.
"""

from __future__ import annotations

import io
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import zstandard

from mlmcrm.engine import Carry, Network, Orders, PriorLedger, Refunds
from mlmcrm.engine.plan import Plan

CODEC = "npz+zstd/1"
# Zstandard's fastest level on one thread: the run compresses while it writes its ledger, so
# the packing must not take the cores the write uses (level 3 on all cores slowed the write).
_LEVEL = 1
_PARTS: dict[str, type] = {
    "network": Network,
    "orders": Orders,
    "refunds": Refunds,
    "carry": Carry,
    "prior": PriorLedger,
}


class StoredInputs:
    """Unpacked inputs: the engine's inputs with the database ids and the plan's rank codes."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        """Read the arrays of :func:`pack`."""
        self.arrays = arrays
        self.plan_id = int(arrays["plan_id"])
        self.rank_codes = [str(code) for code in arrays["rank_codes"]]
        self.distributor_ids = arrays["distributor_ids"]
        self.order_ids = arrays["order_ids"]
        self.period_start = datetime.fromtimestamp(int(arrays["period_start_us"]) / 1e6, UTC)
        self.period_end = datetime.fromtimestamp(int(arrays["period_end_us"]) / 1e6, UTC)

    def part(self, name: str) -> Any:
        """A fresh engine input (``network``, ``orders``, ...) built from the stored arrays."""
        kind = _PARTS[name]
        values = {
            item.name: self.arrays[f"{name}.{item.name}"]
            for item in fields(kind)
            if not item.name.startswith("_")
        }
        return kind(**values)

    def network_for(self, plan: Plan) -> Network:
        """The network with its title and bonus ranks moved onto ``plan``'s ranks (by code).

        A rank the draft plan does not have becomes its lowest rank.
        """
        network = self.part("network")
        index = {rank.id: position for position, rank in enumerate(plan.ranks)}
        mapping = np.array([index.get(code, 0) for code in self.rank_codes], dtype=np.int64)
        network.rank = mapping[network.rank]
        network.bonus_rank = mapping[network.bonus_rank]
        return network


def pack(
    *,
    plan: Plan,
    plan_id: int,
    network: Network,
    orders: Orders,
    refunds: Refunds,
    carry: Carry,
    prior: PriorLedger,
    distributor_ids: np.ndarray,
    order_ids: np.ndarray,
    period_start: datetime,
    period_end: datetime,
) -> bytes:
    """One compressed blob of everything the engine read for a run."""
    arrays: dict[str, np.ndarray] = {
        "plan_id": np.array(plan_id, dtype=np.int64),
        "rank_codes": np.array([rank.id for rank in plan.ranks], dtype=str),
        "distributor_ids": np.asarray(distributor_ids),
        "order_ids": np.asarray(order_ids),
        "period_start_us": np.array(int(period_start.timestamp() * 1e6), dtype=np.int64),
        "period_end_us": np.array(int(period_end.timestamp() * 1e6), dtype=np.int64),
    }
    for name, value in (
        ("network", network),
        ("orders", orders),
        ("refunds", refunds),
        ("carry", carry),
        ("prior", prior),
    ):
        for item in fields(value):
            if not item.name.startswith("_"):
                column = np.asarray(getattr(value, item.name))
                if column.dtype == object:
                    column = column.astype(str)
                arrays[f"{name}.{item.name}"] = column
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return zstandard.ZstdCompressor(level=_LEVEL).compress(buffer.getvalue())


def unpack(blob: bytes, codec: str = CODEC) -> StoredInputs:
    """The stored inputs of :func:`pack`.

    Raises:
        ValueError: A codec this version does not read.
    """
    if codec != CODEC:
        raise ValueError(f"inputs stored as {codec!r}, which this version does not read")
    raw = zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 34)
    with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
        return StoredInputs({name: archive[name] for name in archive.files})
