"""Marketing side of the demo: star products, campaign contacts and monthly marketing spend.

Kept apart from the purchase behaviour (activity.py) and drawn from their own random streams
(seed, 20..23), so adding them changed no other landing file except the product ids of the lines
turned into star products. Campaign contacts never create conversions: they are placed around
the orders that already exist, the way a campaign tool's log sits beside the order history.

- Star products: one product per category (number `STAR_PRODUCT`, e.g. `MOD-0007`) is the
  bestseller of loyal customers: `STAR_SHARE` of their order lines are that product. Champions
  are mostly loyal customers, so these products top the Champions' list with a lift above 1.
- Campaigns over the last twelve months (ids are stable text, dates relative to as_of):
  quarterly reactivation of lapsed customers (e-mail with consent, else post), winter and summer
  sales SMS to opted-in customers with a phone, two VIP mailings to loyal customers, a welcome
  e-mail after a first order (no cost given: an automated journey) and abandoned-basket
  reminders before some web/app orders (they convert by construction) plus unanswered ones.
- Marketing spend: per month and acquisition channel (the order channels), new customers of the
  month times a target cost per acquisition with noise; web spend comes as two invoice lines
  (search and social), so lines of one month and channel add up.
- Ground truth (`ground_truth/known_customers.csv`): a customer reminded twice before two orders
  of the same basket campaign (one conversion, two attributed orders) and a Champion-like loyal
  customer with their star product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.demo import reference as ref
from pipeline.demo.activity import COMPLETED, Lines, Orders
from pipeline.demo.calendar import EPOCH, Calendar, month_of, year_of
from pipeline.demo.faults import FaultInjector, FaultSpec
from pipeline.demo.parts import PartIds
from pipeline.demo.people import Population

#: Product number of each category's star product (MOD-0007, CHA-0007, ...).
STAR_PRODUCT = 7
#: Share of a loyal customer's order lines that are their category's star product.
STAR_SHARE = 0.35
#: Cost per contact in cents by channel (post is printed and stamped).
CONTACT_COST_CENTS = {"email": 1, "sms": 6, "mail": 90}
#: Target cost per acquisition (EUR) by order channel, the level the demo's spend is drawn at.
TARGET_CAC = {"web": 22.0, "store": 12.0, "app": 30.0, "phone": 45.0}
#: Web spend is invoiced in two lines: (line name, share).
WEB_SPEND_LINES = (("SEARCH", 0.6), ("SOCIAL", 0.4))
#: Share of opted-in customers reached by a sales SMS, and of lapsed ones by a reactivation.
SMS_REACH = 0.35
REACTIVATION_REACH = 0.8
#: Abandoned-basket reminders: share of recent web/app orders preceded by a reminder, and the
#: number of unanswered reminders per answered one.
BASKET_REMINDED_ORDERS = 0.15
BASKET_UNANSWERED_RATIO = 3.0
CONTACT_FAULTS = (
    FaultSpec("missing_required", "customer_id"),
    FaultSpec("unparsable_date", "contacted_at", kind="timestamp"),
    # Not a fault: a contact after the as-of date (the export was taken later) is deferred.
    FaultSpec("deferred", "contacted_at", kind="timestamp"),
)
SPEND_FAULTS = (
    FaultSpec("negative_amount", "spend"),
    FaultSpec("unparsable_date", "month"),
)
KNOWN_COLUMNS = ("role", "customer_id", "campaign_id", "product_id", "note")


def plant_star_products(lines: Lines, orders: Orders, pop: Population, seed: int) -> None:
    """Turn `STAR_SHARE` of loyal customers' lines into their category's star product."""
    rng = np.random.default_rng([seed, 20])
    type_code = pop.persons["type_code"].to_numpy()[orders.person[lines.order]]
    star = (type_code == ref.TYPE_INDEX["loyal"]) & (rng.random(len(lines.order)) < STAR_SHARE)
    lines.product = np.where(star, STAR_PRODUCT, lines.product)


@dataclass
class _Contacts:
    """Campaign contacts being collected: one entry per message sent."""

    record: list[np.ndarray]
    seconds: list[np.ndarray]
    campaign: list[np.ndarray]
    channel: list[np.ndarray]
    cost: list[np.ndarray]  # cents, -1 = no cost given

    def add(
        self,
        records: np.ndarray,
        days: np.ndarray,
        campaign: str | np.ndarray,
        channel: str | np.ndarray,
        rng: np.random.Generator,
        with_cost: bool = True,
    ) -> None:
        n = len(records)
        if not n:
            return
        channels = np.broadcast_to(np.asarray(channel, dtype=object), (n,)).copy()
        cost = np.array([CONTACT_COST_CENTS[c] for c in channels], dtype=np.int64)
        self.record.append(records)
        # Sent during the working day.
        self.seconds.append(days * 86_400 + rng.integers(8 * 3600, 19 * 3600, n))
        self.campaign.append(np.broadcast_to(np.asarray(campaign, dtype=object), (n,)).copy())
        self.channel.append(channels)
        self.cost.append(cost if with_cost else np.full(n, -1, dtype=np.int64))


def _day(year: int, month: int, day: int) -> int:
    return (pd.Timestamp(year=year, month=month, day=day).date() - EPOCH).days


def _months_back(as_of_day: int, months: int) -> tuple[int, int]:
    """(year, month) of the month `months` before the as-of month."""
    stamp = pd.Timestamp(EPOCH) + pd.Timedelta(days=int(as_of_day))
    index = stamp.year * 12 + stamp.month - 1 - months
    return index // 12, index % 12 + 1


def _last_order_before(orders: Orders, n_records: int, day: int) -> np.ndarray:
    """Per record, the day of its last order strictly before `day` (-1 when none)."""
    out = np.full(n_records, -1, dtype=np.int64)
    before = orders.day < day
    # Orders are chronological: the last write per record is its latest order.
    out[orders.record[before]] = orders.day[before]
    return out


def build_campaign_contacts(
    pop: Population,
    orders: Orders,
    calendar: Calendar,
    exported: np.ndarray,
    created_day: np.ndarray,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, object] | None]:
    """Contacts of the demo campaigns (record, seconds, campaign_id, channel, cost cents).

    Returns the contacts sorted by time and the planted converted contact (record, campaign,
    orders) used as ground truth, or None when the demo is too small to hold one.
    """
    rng = np.random.default_rng([seed, 21])
    rec = pop.records
    n = len(rec)
    as_of = calendar.as_of
    email_ok = rec["marketing_opt_in"].to_numpy() & rec["email"].notna().to_numpy()
    sms_ok = rec["marketing_opt_in"].to_numpy() & rec["phone"].notna().to_numpy()
    type_code = pop.persons["type_code"].to_numpy()[rec["person"].to_numpy()]
    contacts = _Contacts([], [], [], [], [])

    def reachable(day: int) -> np.ndarray:
        return exported & (created_day <= day)

    # Quarterly reactivation of customers whose last order is 150-400 days old.
    as_of_year, as_of_month = _months_back(as_of, 0)
    quarter_start = (as_of_month - 1) // 3 * 3 + 1
    for q in range(1, 5):
        year, month = _months_back(_day(as_of_year, quarter_start, 1), 3 * q)
        day = _day(year, month, 10)
        last = _last_order_before(orders, n, day)
        lapsed = reachable(day) & (last >= 0) & (day - last >= 150) & (day - last <= 400)
        chosen = np.flatnonzero(lapsed & (rng.random(n) < REACTIVATION_REACH))
        channel = np.where(email_ok[chosen], "email", "mail")
        contacts.add(
            chosen,
            day + rng.integers(0, 3, len(chosen)),
            f"REACTIVATION-{year}T{(month - 1) // 3 + 1}",
            channel,
            rng,
        )

    # Sales SMS (early January, late June) and VIP mailings (mid May, mid November) of the last
    # twelve months.
    for year in (as_of_year - 1, as_of_year):
        for campaign, month, day_of_month, kind in (
            (f"SOLDES-HIVER-{year % 100:02d}", 1, 6, "sales"),
            (f"VIP-PRINTEMPS-{year % 100:02d}", 5, 15, "vip"),
            (f"SOLDES-ETE-{year % 100:02d}", 6, 24, "sales"),
            (f"VIP-HIVER-{year % 100:02d}", 11, 15, "vip"),
        ):
            day = _day(year, month, day_of_month)
            if not (as_of - 365 < day <= as_of):
                continue
            if kind == "sales":
                chosen = np.flatnonzero(reachable(day) & sms_ok & (rng.random(n) < SMS_REACH))
                contacts.add(chosen, day + np.zeros(len(chosen), np.int64), campaign, "sms", rng)
            else:
                bought = _last_order_before(orders, n, day) >= 0
                loyal = type_code == ref.TYPE_INDEX["loyal"]
                chosen = np.flatnonzero(reachable(day) & bought & loyal)
                contacts.add(chosen, day + rng.integers(0, 2, len(chosen)), campaign, "mail", rng)

    # Welcome e-mail 2-9 days after a first order placed in the last 180 days (no cost given).
    first = np.full(n, -1, dtype=np.int64)
    first[orders.record[::-1]] = orders.day[::-1]
    welcome = np.flatnonzero(exported & email_ok & (first >= as_of - 180))
    days = np.minimum(first[welcome] + rng.integers(2, 10, len(welcome)), as_of)
    campaigns = np.array([f"BIENVENUE-{y}" for y in year_of(days)], dtype=object)
    contacts.add(welcome, days, campaigns, "email", rng, with_cost=False)

    # Abandoned-basket reminders: before some recent web/app orders (1-3 days before), and as
    # many unanswered ones again on random days; one planted customer gets two reminders.
    known = _plant_known_conversion(orders, rec, exported, email_ok, created_day, as_of)
    recent = np.flatnonzero(
        (orders.day > as_of - 180)
        & np.isin(orders.channel, [ref.CHANNELS.index("web"), ref.CHANNELS.index("app")])
        & exported[orders.record]
        & email_ok[orders.record]
    )
    if known is not None:
        recent = recent[orders.record[recent] != known["record"]]
    answered = recent[rng.random(len(recent)) < BASKET_REMINDED_ORDERS]
    days = orders.day[answered] - rng.integers(1, 4, len(answered))
    records = orders.record[answered]
    ok = created_day[records] <= days
    n_unanswered = int(round(ok.sum() * BASKET_UNANSWERED_RATIO))
    pool = np.flatnonzero(exported & email_ok & (created_day <= as_of - 180))
    if known is not None:
        pool = pool[pool != known["record"]]
    silent = rng.choice(pool, min(n_unanswered, len(pool)), replace=False) if len(pool) else pool
    silent_days = as_of - 180 + rng.integers(1, 181, len(silent))
    records = np.concatenate([records[ok], silent])
    days = np.concatenate([days[ok], silent_days])
    campaigns = np.array([f"PANIER-{y}" for y in year_of(days)], dtype=object)
    contacts.add(records, days, campaigns, "email", rng)
    if known is not None:
        days = np.array([known["first_order_day"] - 3, known["first_order_day"] - 1])
        known["campaign"] = f"PANIER-{year_of(days[:1])[0]}"
        contacts.add(np.full(2, known["record"]), days, known["campaign"], "email", rng)

    frame = pd.DataFrame(
        {
            "record": np.concatenate(contacts.record),
            "seconds": np.concatenate(contacts.seconds),
            "campaign_id": np.concatenate(contacts.campaign),
            "channel": np.concatenate(contacts.channel),
            "cost_cents": np.concatenate(contacts.cost),
        }
    )
    # Nothing after as_of (the faults add a few on purpose).
    frame = frame[frame["seconds"] < (as_of + 1) * 86_400]
    frame = frame.sort_values(["seconds", "campaign_id", "record"], kind="stable")
    return frame.reset_index(drop=True), known


def _plant_known_conversion(
    orders: Orders,
    rec: pd.DataFrame,
    exported: np.ndarray,
    email_ok: np.ndarray,
    created_day: np.ndarray,
    as_of: int,
) -> dict[str, object] | None:
    """A customer with two completed orders 1-20 days apart in the last 180 days.

    They receive two basket reminders (3 and 1 days before the first order): one conversion
    within a 30-day attribution window, with both orders attributed. The eligible record with
    the smallest customer id is chosen, so the choice is stable.
    """
    frame = pd.DataFrame(
        {"record": orders.record, "day": orders.day, "completed": orders.status == COMPLETED}
    )
    frame = frame[frame["completed"] & (frame["day"] > as_of - 180)]
    frame = frame.sort_values(["record", "day"], kind="stable")
    frame["next_day"] = frame.groupby("record")["day"].shift(-1)
    pairs = frame[(frame["next_day"] - frame["day"]).between(1, 20)]
    record = pairs["record"].to_numpy()
    eligible = exported[record] & email_ok[record] & (created_day[record] <= pairs["day"] - 3)
    pairs = pairs[eligible]
    if pairs.empty:
        return None
    ids = rec["customer_id"].to_numpy()[pairs["record"].to_numpy()]
    best = pairs.iloc[int(np.argmin(ids))]
    return {
        "record": int(best["record"]),
        "first_order_day": int(best["day"]),
        "second_order_day": int(best["next_day"]),
    }


def contacts_table(contacts: pd.DataFrame, customer_ids: pa.Array) -> pa.Table:
    """The landing table of campaign contacts (no contact_id: the pipeline generates one)."""
    cost = contacts["cost_cents"].to_numpy()
    cents = np.where(cost >= 0, cost, 0)
    money = pc.binary_join_element_wise(
        pc.cast(pa.array(cents // 100), pa.string()),
        pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), width=2, padding="0"),
        ".",
    )
    stamps = pa.array(contacts["seconds"].to_numpy().astype("datetime64[s]"), pa.timestamp("s"))
    return pa.table(
        {
            "campaign_id": pa.array(contacts["campaign_id"].to_numpy(), pa.string()),
            "customer_id": customer_ids.take(pa.array(contacts["record"].to_numpy())),
            "contacted_at": pc.strftime(stamps, format="%Y-%m-%d %H:%M:%S"),
            "channel": pa.array(contacts["channel"].to_numpy(), pa.string()),
            "cost": pc.if_else(pa.array(cost >= 0), money, pa.nulls(len(cost), pa.string())),
        }
    )


def build_marketing_spend(
    orders: Orders, calendar: Calendar, seed: int, ids: PartIds | None = None
) -> pa.Table:
    """Spend per month and acquisition channel: new customers x target CAC, with noise.

    A new customer is a person's first order (month and channel of that order). Every month of
    the calendar and every channel gets a line (web: two), even without new customers. Each part
    of a demo in parts spends for its own new customers, under spend ids of its own (`ids`).
    """
    ids = ids or PartIds()
    rng = np.random.default_rng([seed, 22])
    _, first = np.unique(orders.person, return_index=True)
    months = year_of(orders.day[first]) * 12 + month_of(orders.day[first]) - 1
    channels = orders.channel[first]
    start = int(
        year_of(np.array([calendar.start]))[0] * 12 + month_of(np.array([calendar.start]))[0] - 1
    )
    end = int(
        year_of(np.array([calendar.as_of]))[0] * 12 + month_of(np.array([calendar.as_of]))[0] - 1
    )
    rows: list[tuple[str, str, str, int]] = []
    for month in range(start, end + 1):
        label = f"{month // 12:04d}-{month % 12 + 1:02d}"
        for code, channel in enumerate(ref.CHANNELS):
            new = int(((months == month) & (channels == code)).sum())
            noise = float(np.exp(0.25 * rng.standard_normal()))
            cents = int(round((new * TARGET_CAC[channel] * noise + 40.0) * 100))
            lines = WEB_SPEND_LINES if channel == "web" else ((channel.upper(), 1.0),)
            for name, share in lines:
                spend_id = ids.spend_id(
                    f"{channel.upper()}-{name}-{label}" if channel == "web" else f"{name}-{label}"
                )
                rows.append((spend_id, f"{label}-01", channel, int(round(cents * share))))
    spend = np.array([r[3] for r in rows], dtype=np.int64)
    return pa.table(
        {
            "spend_id": pa.array([r[0] for r in rows], pa.string()),
            "month": pa.array([r[1] for r in rows], pa.string()),
            "channel": pa.array([r[2] for r in rows], pa.string()),
            "spend": pc.binary_join_element_wise(
                pc.cast(pa.array(spend // 100), pa.string()),
                pc.utf8_lpad(pc.cast(pa.array(spend % 100), pa.string()), width=2, padding="0"),
                ".",
            ),
        }
    )


def marketing_files(
    pop: Population,
    orders: Orders,
    lines: Lines,
    calendar: Calendar,
    exported: np.ndarray,
    customer_ids: pa.Array,
    seed: int,
    ext: str,
    faults: bool,
    as_of,
    ids: PartIds | None = None,
) -> tuple[list[tuple[str, pa.Table]], FaultInjector, pa.Table]:
    """The two landing tables, their fault ground truth and the known-customers table.

    `ids` names the files and spend lines of one part of a demo in parts.
    """
    ids = ids or PartIds()
    contacts_name = ids.file_name(f"campaign_contacts.{ext}")
    spend_name = ids.file_name(f"marketing_spend.{ext}")
    created_day = pop.records["created_ts"].to_numpy() // 86_400
    contacts, known = build_campaign_contacts(pop, orders, calendar, exported, created_day, seed)
    contact_table = contacts_table(contacts, customer_ids)
    spend_table = build_marketing_spend(orders, calendar, seed, ids)
    injector = FaultInjector(np.random.default_rng([seed, 23]), as_of)
    if faults:
        # The planted customer's contacts stay intact: the tests read them.
        eligible = np.ones(contact_table.num_rows, dtype=bool)
        if known is not None:
            eligible &= contacts["record"].to_numpy() != known["record"]
        contact_table = injector.inject(contacts_name, contact_table, CONTACT_FAULTS, eligible)
        spend_table = injector.inject(
            spend_name,
            spend_table,
            SPEND_FAULTS,
            np.ones(spend_table.num_rows, dtype=bool),
        )
    files = [(contacts_name, contact_table), (spend_name, spend_table)]
    return files, injector, known_customers(pop, orders, lines, calendar, exported, known)


def known_customers(
    pop: Population,
    orders: Orders,
    lines: Lines,
    calendar: Calendar,
    exported: np.ndarray,
    known: dict[str, object] | None,
) -> pa.Table:
    """Ground truth of planted customers the tests follow through the whole pipeline."""
    rows: list[tuple[str, str, str, str, str]] = []
    ids = pop.records["customer_id"].to_numpy()
    if known is not None:
        gap = known["second_order_day"] - known["first_order_day"]
        rows.append(
            (
                "converted_contact",
                str(ids[known["record"]]),
                str(known["campaign"]),
                "",
                f"2 reminders 3 and 1 days before 2 completed orders {gap} days apart",
            )
        )
    # The loyal customer with the most completed orders and one in the last 30 days: a Champion
    # in any sensible scoring; their most bought star product.
    completed = orders.status == COMPLETED
    frame = pd.DataFrame({"record": orders.record[completed], "day": orders.day[completed]})
    stats = frame.groupby("record")["day"].agg(["count", "max"])
    type_code = pop.persons["type_code"].to_numpy()[pop.records["person"].to_numpy()]
    stats = stats[
        (type_code[stats.index] == ref.TYPE_INDEX["loyal"])
        & exported[stats.index]
        & (stats["max"] > calendar.as_of - 30)
    ]
    star_lines = lines.product == STAR_PRODUCT
    line_record = orders.record[lines.order]
    if not stats.empty:
        stats = stats.assign(customer_id=ids[stats.index]).sort_values(
            ["count", "customer_id"], ascending=[False, True]
        )
        for record in stats.index:
            mine = star_lines & (line_record == record)
            if mine.any():
                categories = pd.Series(lines.category[mine]).value_counts()
                category = int(categories.index[0])
                prefix = ref.CATEGORIES[category][1]
                rows.append(
                    (
                        "star_buyer",
                        str(ids[record]),
                        "",
                        f"{prefix}-{STAR_PRODUCT:04d}",
                        f"loyal customer with {int(stats.loc[record, 'count'])} completed orders",
                    )
                )
                break
    return pa.table(
        {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(KNOWN_COLUMNS)}
    )
