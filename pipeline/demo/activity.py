"""Purchase behaviour: orders, order lines, refunds, NPS answers and support tickets.

Everything here is vectorised over orders (numpy); Python loops only run over tiny lookup tables.
Amounts are integer cents so that lines, discounts and refunds add up exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.demo import reference as ref
from pipeline.demo.calendar import Calendar, month_of, year_of
from pipeline.demo.people import Population
from pipeline.ingest.entities import ORDER_STATUSES as STATUSES

logger = logging.getLogger(__name__)

#: Status codes of the generated orders: positions in the input contract's statuses.
COMPLETED, CANCELLED, RETURNED = (STATUSES.index(s) for s in ("completed", "cancelled", "returned"))


@dataclass
class Orders:
    """One entry per order, sorted chronologically (the position is the order number)."""

    person: np.ndarray
    record: np.ndarray
    day: np.ndarray
    total_cents: np.ndarray  # sum of the lines, before discount
    discount_cents: np.ndarray
    amount_cents: np.ndarray  # paid: total - discount
    promo: np.ndarray  # index into promo_labels, -1 when no promo code
    promo_labels: tuple[str, ...]
    status: np.ndarray
    channel: np.ndarray


@dataclass
class Refunds:
    """One refund per returned order, sorted by refund day."""

    order: np.ndarray
    day: np.ndarray
    amount_cents: np.ndarray
    linked: np.ndarray  # False: the refund system did not keep the order id


@dataclass
class Lines:
    """Order lines, grouped by order in order-number order."""

    order: np.ndarray
    line_number: np.ndarray
    category: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    unit_cents: np.ndarray


@dataclass
class Events:
    """Dated per-record events (NPS answers or support tickets), sorted by day."""

    record: np.ndarray
    day: np.ndarray
    value: np.ndarray  # NPS score or ticket topic index


def _type_table(mapping: dict[str, float], default: float) -> np.ndarray:
    return np.array([mapping.get(t, default) for t in ref.PERSON_TYPES])


def allocate_orders(
    type_code: np.ndarray, active_days: np.ndarray, n_orders: int, rng: np.random.Generator
) -> np.ndarray:
    """Number of orders per person, summing exactly to `n_orders`.

    One-off types get one order, new customers 1-3, prospects none; the multi-order types get at
    least two and share the remaining orders in proportion to their appetite times the length of
    their active window (a loyal customer acquired last spring has had less time to buy), with
    gamma noise so that frequency is skewed within a type too.
    """
    n = len(type_code)
    counts = np.zeros(n, dtype=np.int64)
    single = np.isin(type_code, [ref.TYPE_INDEX[t] for t in ref.SINGLE_ORDER_TYPES])
    counts[single] = 1
    new = type_code == ref.TYPE_INDEX["new"]
    counts[new] = 1 + rng.binomial(2, 0.35, int(new.sum()))
    weights = np.zeros(len(ref.PERSON_TYPES))
    for name, weight in ref.MULTI_ORDER_WEIGHTS.items():
        weights[ref.TYPE_INDEX[name]] = weight
    multi = weights[type_code] > 0
    counts[multi] = 2
    base = int(counts.sum())
    if n_orders >= base:
        takers = np.flatnonzero(multi) if multi.any() else np.flatnonzero(counts > 0)
        years = np.maximum(active_days[takers], 60) / 365.0
        appetite = (
            (weights[type_code[takers]] + (~multi[takers]))
            * years
            * rng.gamma(4.0, 0.25, len(takers))
        )
        counts[takers] += rng.multinomial(n_orders - base, appetite / appetite.sum())
    else:
        logger.warning("only %d orders for %d wanted: dropping orders at random", n_orders, base)
        wanted = np.repeat(np.arange(n), counts)
        keep = rng.choice(len(wanted), n_orders, replace=False)
        counts = np.bincount(wanted[keep], minlength=n).astype(np.int64)
    return counts


def build_orders(pop: Population, calendar: Calendar, n_orders: int, seed: int) -> Orders:
    """Draw `n_orders` orders: who, when (seasonal, in each person's active window), how much."""
    rng = np.random.default_rng([seed, 2])
    persons = pop.persons
    type_code = persons["type_code"].to_numpy()
    active_days = persons["end_day"].to_numpy() - persons["acq_day"].to_numpy()
    counts = allocate_orders(type_code, active_days, n_orders, rng)
    person = np.repeat(np.arange(len(persons)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first = np.zeros(len(person), dtype=bool)
    first[starts[counts > 0]] = True
    acq = persons["acq_day"].to_numpy()[person]
    end = persons["end_day"].to_numpy()[person]
    day = np.where(first, acq, calendar.sample(acq, end, rng.random(len(person))))
    # A churner's last order is the one that marks the stop, 6-18 months before as_of.
    last = np.zeros(len(person), dtype=bool)
    last[(starts + counts - 1)[counts > 1]] = True
    churner = type_code[person] == ref.TYPE_INDEX["churner"]
    day = np.where(last & churner, end, day)

    # A person's orders go to one of their records, the primary one more often.
    n_rec = persons["n_records"].to_numpy()[person]
    offset = np.minimum((rng.random(len(person)) ** 1.7 * n_rec).astype(np.int64), n_rec - 1)
    record = persons["first_rec"].to_numpy()[person] + offset

    # Chronological order with random ties, as one integer sort key (faster than lexsort).
    order = np.argsort(day * (1 << 24) + rng.integers(0, 1 << 24, len(day)))
    person, record, day = person[order], record[order], day[order]
    ptype = type_code[person]
    month = month_of(day)

    median = _type_table(ref.BASKET_MEDIAN, 60.0)[ptype]
    median = np.where(month == 12, median * ref.DECEMBER_BASKET_FACTOR, median)
    basket = median * np.exp(ref.BASKET_SIGMA * rng.standard_normal(len(day)))
    total = np.maximum(np.round(basket * 100), 500).astype(np.int64)

    is_promo_buyer = ptype == ref.TYPE_INDEX["promo_one_time"]
    promo = is_promo_buyer | (rng.random(len(day)) < ref.PROMO_RATE_BY_MONTH[month - 1])
    rate = ref.DISCOUNT_RATES[rng.integers(0, len(ref.DISCOUNT_RATES), len(day))]
    discount = np.where(promo, np.round(total * rate), 0).astype(np.int64)
    codes, labels = _promo_codes(month, year_of(day), first[order], promo)

    return_rate = _type_table(ref.RETURN_RATE, ref.DEFAULT_RETURN_RATE)[ptype]
    u = rng.random(len(day))
    status = np.full(len(day), COMPLETED, dtype=np.int8)
    status[u < ref.CANCEL_RATE] = CANCELLED
    # Returns need a few days before as_of so that the refund date can follow the order date.
    returnable = day <= calendar.as_of - 3
    status[(u >= ref.CANCEL_RATE) & (u < ref.CANCEL_RATE + return_rate) & returnable] = RETURNED

    system = pop.records["system"].to_numpy()[record]
    probs = np.array([ref.CHANNEL_PROBS[s[0]] for s in ref.SOURCE_SYSTEMS])[system]
    channel = (rng.random(len(day))[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    channel = np.minimum(channel, len(ref.CHANNELS) - 1)
    return Orders(
        person=person,
        record=record,
        day=day,
        total_cents=total,
        discount_cents=discount,
        amount_cents=total - discount,
        promo=codes,
        promo_labels=labels,
        status=status,
        channel=channel,
    )


def _promo_codes(
    month: np.ndarray, year: np.ndarray, first: np.ndarray, promo: np.ndarray
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Campaign code per promo order (sales, Christmas, Black Friday, welcome or flash codes).

    Returns an index per order (-1 = no promo) into the tuple of distinct codes.
    """
    kind = np.select(
        [month == 1, np.isin(month, ref.SUMMER_MONTHS), month == 12, month == 11, first],
        [0, 1, 2, 3, 4],
        5,
    )
    names = (
        "SOLDESHIVER{yy}",
        "SOLDESETE{yy}",
        "NOEL{yy}",
        "BLACKFRIDAY{yy}",
        "BIENVENUE10",
        "FLASH15",
    )
    key = kind * 10_000 + year
    uniq, inverse = np.unique(key, return_inverse=True)
    labels = tuple(names[k // 10_000].format(yy=f"{k % 10_000 % 100:02d}") for k in uniq)
    return np.where(promo, inverse, -1), labels


def build_refunds(orders: Orders, calendar: Calendar, seed: int) -> Refunds:
    """A refund for every returned order, 3-40 days later; some partial, ~10% unlinked."""
    rng = np.random.default_rng([seed, 3])
    idx = np.flatnonzero(orders.status == RETURNED)
    day = np.minimum(orders.day[idx] + rng.integers(3, 41, len(idx)), calendar.as_of)
    amount = orders.amount_cents[idx]
    partial = rng.random(len(idx)) < ref.PARTIAL_REFUND_RATE
    share = rng.uniform(0.3, 0.9, len(idx))
    amount = np.where(partial, np.maximum(np.round(amount * share), 1), amount).astype(np.int64)
    linked = rng.random(len(idx)) >= ref.UNLINKED_REFUND_RATE
    order = np.lexsort((idx, day))
    return Refunds(
        order=idx[order], day=day[order], amount_cents=amount[order], linked=linked[order]
    )


def build_lines(orders: Orders, pop: Population, seed: int) -> Lines:
    """Order lines whose quantity * unit price add up to the order total before discount."""
    rng = np.random.default_rng([seed, 4])
    n = len(orders.day)
    loyal = pop.persons["type_code"].to_numpy()[orders.person] == ref.TYPE_INDEX["loyal"]
    n_lines = 1 + np.minimum(rng.poisson(np.where(loyal, 1.3, 0.8)), 5)
    order = np.repeat(np.arange(n), n_lines)
    starts = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    line_number = np.arange(len(order)) - starts[order] + 1
    last = line_number == n_lines[order]

    share = 0.3 + rng.gamma(2.0, 1.0, len(order))
    share /= np.bincount(order, weights=share, minlength=n)[order]
    quantity = 1 + np.searchsorted(np.array([0.75, 0.93]), rng.random(len(order)))
    quantity[last] = 1
    total = orders.total_cents[order]
    unit = np.maximum(np.round(total * share / quantity), 1).astype(np.int64)
    unit[last] = 0
    # The last line takes the rounding remainder so that the lines add up to the order total.
    others = np.bincount(order, weights=unit * quantity, minlength=n).astype(np.int64)
    unit[last] = np.maximum(orders.total_cents - others, 100)[order[last]]

    favourite = pop.persons["favourite"].to_numpy()[orders.person][order]
    category = np.where(
        rng.random(len(order)) < ref.FAVOURITE_CATEGORY_SHARE,
        favourite,
        rng.integers(0, len(ref.CATEGORIES), len(order)),
    )
    product = rng.integers(1, ref.PRODUCTS_PER_CATEGORY + 1, len(order))
    return Lines(
        order=order,
        line_number=line_number,
        category=category,
        product=product,
        quantity=quantity,
        unit_cents=unit,
    )


def record_order_span(orders: Orders, n_records: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last order day per record (-1 when the record has no order)."""
    first = np.full(n_records, -1, dtype=np.int64)
    last = np.full(n_records, -1, dtype=np.int64)
    span = pd.Series(orders.day).groupby(orders.record).agg(["min", "max"])
    first[span.index.to_numpy()] = span["min"].to_numpy()
    last[span.index.to_numpy()] = span["max"].to_numpy()
    return first, last


def _events(
    rng: np.random.Generator, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    record = np.repeat(np.arange(len(counts)), counts)
    span = np.maximum(hi[record] - lo[record], 0)
    day = lo[record] + (rng.random(len(record)) * (span + 1)).astype(np.int64)
    return record, day


def build_nps(
    type_code: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    eligible: np.ndarray,
    calendar: Calendar,
    seed: int,
) -> Events:
    """NPS answers after a purchase; the score mean depends on the hidden type of the person."""
    rng = np.random.default_rng([seed, 5])
    rate = _type_table(ref.NPS_RESPONSE_RATE, ref.DEFAULT_NPS_RESPONSE_RATE)[type_code]
    answers = (rng.random(len(type_code)) < rate) * (1 + (rng.random(len(type_code)) < 0.3))
    counts = np.where(eligible, answers, 0)
    record, day = _events(rng, counts, first, last)
    day = np.minimum(day + rng.integers(1, 21, len(day)), calendar.as_of)
    mean = _type_table(ref.NPS_MEAN, 7.0)[type_code[record]]
    score = np.clip(np.round(mean + ref.NPS_SD * rng.standard_normal(len(day))), 0, 10)
    order = np.lexsort((record, day))
    return Events(record=record[order], day=day[order], value=score[order].astype(np.int64))


def build_tickets(
    type_code: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    eligible: np.ndarray,
    calendar: Calendar,
    seed: int,
) -> Events:
    """Support tickets between the first order and 60 days after the last one."""
    rng = np.random.default_rng([seed, 6])
    rate = _type_table(ref.TICKET_RATE, ref.DEFAULT_TICKET_RATE)[type_code]
    counts = np.where(eligible, rng.poisson(rate), 0)
    record, day = _events(rng, counts, first, np.minimum(last + 60, calendar.as_of))
    returner = type_code[record] == ref.TYPE_INDEX["serial_returner"]
    probs = np.where(
        returner[:, None],
        np.array(ref.TICKET_TOPIC_PROBS["serial_returner"]),
        np.array(ref.TICKET_TOPIC_PROBS["default"]),
    )
    topic = (rng.random(len(day))[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    topic = np.minimum(topic, len(ref.TICKET_TOPICS) - 1)
    order = np.lexsort((record, day))
    return Events(record=record[order], day=day[order], value=topic[order])
