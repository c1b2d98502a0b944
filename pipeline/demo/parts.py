"""A demo written in parts: sizes, seeds, file names and id offsets of each part.

A demo of `parts` > 1 is written one part at a time, so that the generator's memory is that of
one part (100M orders would not fit at once). Part k is a complete demo of its own, like one
region of a company: its own persons (drawn with a seed derived from (seed, k)), orders and
files (`orders_2025_p003.parquet`, `customers_store_p003.csv`, ...). Only the numbering is
shared: every id sequence of part k starts after the numbers taken by the parts before it, so
customer, person, order, refund and ticket ids and look-alike groups are unique across parts.
With one part nothing changes: no suffix, no offset, the seed itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: Component of the seed sequence the part seeds come from (the others are 1..23, see
#: generator.py): a part seed never equals a stream of the one-part demo.
PART_STREAM = 100


def part_size(total: int, parts: int, k: int) -> int:
    """Part k's share of `total`: the first `total % parts` parts take one more."""
    return total // parts + (1 if k < total % parts else 0)


def part_seed(seed: int, parts: int, k: int) -> int:
    """The seed of part k: `seed` itself for a one-part demo, else derived from (seed, k)."""
    if parts == 1:
        return seed
    return int(np.random.SeedSequence([seed, PART_STREAM, k]).generate_state(1)[0])


@dataclass(frozen=True)
class PartIds:
    """Where part `tag`'s numbering starts: the numbers taken by the parts before it.

    `records` holds one count per source system (each system has its own customer id sequence);
    `lookalike_groups` counts groups per kind (household-0001, twin-0001, ... are numbered per
    kind). `tag` is "" for a one-part demo, else e.g. "p003".
    """

    tag: str = ""
    persons: int = 0
    lookalike_groups: int = 0
    records: tuple[int, ...] = (0, 0, 0)
    orders: int = 0
    refunds: int = 0
    tickets: int = 0

    @classmethod
    def first(cls, parts: int) -> PartIds:
        """The ids of part 0 of a `parts`-part demo."""
        return cls(tag=part_tag(parts, 0))

    def file_name(self, name: str) -> str:
        """`orders_2025.parquet` -> `orders_2025_p003.parquet`: the entity prefix is kept."""
        if not self.tag:
            return name
        stem, dot, ext = name.rpartition(".")
        return f"{stem}_{self.tag}{dot}{ext}"

    def spend_id(self, spend_id: str) -> str:
        """Each part invoices its own spend lines: their ids must differ across parts."""
        return f"{spend_id}-{self.tag.upper()}" if self.tag else spend_id

    def advance(
        self,
        tag: str,
        persons: int,
        lookalike_groups: int,
        records: tuple[int, ...],
        orders: int,
        refunds: int,
        tickets: int,
    ) -> PartIds:
        """The ids of the next part (`tag`), after this part took the given numbers of each."""
        return replace(
            self,
            tag=tag,
            persons=self.persons + persons,
            lookalike_groups=self.lookalike_groups + lookalike_groups,
            records=tuple(a + b for a, b in zip(self.records, records, strict=True)),
            orders=self.orders + orders,
            refunds=self.refunds + refunds,
            tickets=self.tickets + tickets,
        )


def part_tag(parts: int, k: int) -> str:
    """File-name tag of part k: none for a one-part demo (its files keep their names)."""
    return f"p{k:03d}" if parts > 1 else ""
