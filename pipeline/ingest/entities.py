"""The entities the landing directory may hold and their canonical columns.

This is the single place that says which columns exist, which are required, and how each one is
typed during cleaning; extraction, cleaning and the input-contract documentation all follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.lib.sql import sql_literal

#: Column kinds drive both detection (decimal separator, date format) and cleaning.
TEXT = "text"
ID = "id"
AMOUNT = "amount"
DATE = "date"
TIMESTAMP = "timestamp"
INTEGER = "integer"
BOOLEAN = "boolean"
#: SQL type of each column kind in the clean tables.
SQL_TYPES = {
    ID: "VARCHAR",
    TEXT: "VARCHAR",
    AMOUNT: "DECIMAL(18,2)",
    DATE: "DATE",
    TIMESTAMP: "TIMESTAMP",
    INTEGER: "INTEGER",
    BOOLEAN: "BOOLEAN",
}

LINEAGE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_source_row",
    "_file_checksum",
    "_loaded_at",
    # Set on rows read but not split into columns (row shape) or not data (repeated header):
    # "<reason>: <detail>", and the raw line as found in the file.
    "_row_error",
    "_raw_line",
)


#: Order statuses of the input contract; an empty status is the default. The one home of the
#: rule: cleaning quarantines any other value (unknown_status), the clean_orders gate reads it as
#: the suite parameter `order_statuses`, and the demo generator writes these.
ORDER_STATUSES: tuple[str, ...] = ("completed", "cancelled", "returned")
DEFAULT_ORDER_STATUS = "completed"

#: An e-mail address as cleaning accepts it (lower-cased first).
EMAIL_RE = r"[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"


@dataclass(frozen=True)
class ValueRule:
    """A check of one column's value that only this entity has.

    The checks every entity gets follow from its columns' kinds and required subset
    (`pipeline.ingest.rules.entity_checks`); these come after them, in this order.
    `rejects` is a SQL condition on the column's text (`t_<column>`) or parsed value
    (`p_<column>`); `says` what is wrong, after the value as found unless `shows_value` is False.
    A failing row goes to quarantine with `reason`, or, with `drops_value`, keeps its place and
    loses the value (counted under the same reason).
    """

    column: str
    reason: str
    rejects: str
    says: str
    shows_value: bool = True
    drops_value: bool = False


@dataclass(frozen=True)
class EntitySpec:
    """One landing entity: its canonical columns (name -> kind) and the required subset.

    `key` is the clean table's primary key; `generated_id` the prefix of the id generated from
    the row's content when the export has none (the key is then that one column); `added` the
    columns cleaning adds after the canonical ones (not read from the files); `rules` the checks
    of values only this entity has. The clean table's columns are `clean_columns()`: nothing else
    lists them.
    """

    name: str
    columns: dict[str, str]
    required: tuple[str, ...]
    key: tuple[str, ...]
    generated_id: str = ""
    added: dict[str, str] = field(default_factory=dict)
    rules: tuple[ValueRule, ...] = ()

    @property
    def optional(self) -> tuple[str, ...]:
        """Canonical columns a file may omit (they are NULL in `raw.<entity>`)."""
        return tuple(c for c in self.columns if c not in self.required)

    def columns_of_kind(self, *kinds: str) -> list[str]:
        """Canonical columns whose kind is one of `kinds`, in declaration order."""
        return [c for c, k in self.columns.items() if k in kinds]

    def clean_columns(self) -> list[tuple[str, str]]:
        """(column, SQL type) of the clean table, in contract order (lineage columns aside)."""
        return [(c, SQL_TYPES[k]) for c, k in (self.columns | self.added).items()]


ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec(
            "orders",
            {
                "order_id": ID,
                "customer_id": ID,
                "order_date": DATE,
                "amount": AMOUNT,
                "currency": TEXT,
                "status": TEXT,
                "channel": TEXT,
                "promo_code": TEXT,
                "discount_amount": AMOUNT,
            },
            ("order_id", "customer_id", "order_date", "amount"),
            key=("order_id",),
            rules=(
                ValueRule(
                    "status",
                    "unknown_status",
                    f"coalesce(lower(t_status), {sql_literal(DEFAULT_ORDER_STATUS)}) NOT IN "
                    f"({', '.join(sql_literal(s) for s in ORDER_STATUSES)})",
                    f"is not one of {', '.join(ORDER_STATUSES)}",
                ),
            ),
        ),
        EntitySpec(
            "customers",
            {
                "customer_id": ID,
                "email": TEXT,
                "first_name": TEXT,
                "last_name": TEXT,
                "phone": TEXT,
                "birth_date": DATE,
                "gender": TEXT,
                "address_line": TEXT,
                "postal_code": TEXT,
                "city": TEXT,
                "region": TEXT,
                "country": TEXT,
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
                "marketing_opt_in": BOOLEAN,
                "source_system": TEXT,
            },
            ("customer_id",),
            key=("customer_id",),
            # Customers referenced by other entities but absent from the customer files.
            added={"derived_from_orders": BOOLEAN},
            # A wrong e-mail or country does not make the customer unknown: only the value goes.
            rules=(
                ValueRule(
                    "email",
                    "invalid_email",
                    "t_email IS NOT NULL AND NOT regexp_full_match(lower(t_email), "
                    f"{sql_literal(EMAIL_RE)})",
                    "is not a valid e-mail address",
                    drops_value=True,
                ),
                ValueRule(
                    "country",
                    "invalid_value",
                    "t_country IS NOT NULL AND p_country IS NULL",
                    "is not a known country",
                    drops_value=True,
                ),
            ),
        ),
        EntitySpec(
            "refunds",
            {
                "refund_id": ID,
                "customer_id": ID,
                "order_id": ID,
                "refunded_at": DATE,
                "amount": AMOUNT,
            },
            ("customer_id", "refunded_at", "amount"),
            key=("refund_id",),
            generated_id="RF-",
            rules=(
                ValueRule(
                    "amount",
                    "invalid_value",
                    "p_amount = 0",
                    "a refund amount must be greater than 0",
                    shows_value=False,
                ),
            ),
        ),
        EntitySpec(
            "order_lines",
            {
                "order_id": ID,
                "line_number": INTEGER,
                "product_id": ID,
                "category": TEXT,
                "quantity": INTEGER,
                "unit_price": AMOUNT,
            },
            ("order_id", "quantity", "unit_price"),
            # The line within its order (numbered in file order when the export has none).
            key=("order_id", "line_number"),
            rules=(
                ValueRule(
                    "quantity", "invalid_value", "p_quantity < 1", "is not a positive quantity"
                ),
                ValueRule(
                    "line_number",
                    "invalid_value",
                    "p_line_number < 1",
                    "is not a positive line number",
                ),
            ),
        ),
        EntitySpec(
            "nps_responses",
            {
                "response_id": ID,
                "customer_id": ID,
                "responded_at": DATE,
                "score": INTEGER,
            },
            ("customer_id", "responded_at", "score"),
            key=("response_id",),
            generated_id="NPS-",
            rules=(
                ValueRule(
                    "score", "invalid_value", "p_score NOT BETWEEN 0 AND 10", "is outside 0..10"
                ),
            ),
        ),
        EntitySpec(
            "support_tickets",
            {
                "ticket_id": ID,
                "customer_id": ID,
                "created_at": DATE,
                "topic": TEXT,
            },
            ("ticket_id", "customer_id", "created_at"),
            key=("ticket_id",),
        ),
        # Optional marketing inputs (docs/input_contract.md): who was contacted by which
        # campaign, through which channel and at what cost; and what was spent per month on
        # each acquisition channel. A contact without contact_id, or a spend line without
        # spend_id, gets one generated from its content (exact copies are duplicate_row).
        EntitySpec(
            "campaign_contacts",
            {
                "contact_id": ID,
                "campaign_id": ID,
                "customer_id": ID,
                "contacted_at": TIMESTAMP,
                "channel": TEXT,
                "cost": AMOUNT,
            },
            ("campaign_id", "customer_id", "contacted_at", "channel"),
            key=("contact_id",),
            generated_id="CC-",
        ),
        EntitySpec(
            "marketing_spend",
            {
                "spend_id": ID,
                "month": DATE,
                "channel": TEXT,
                "spend": AMOUNT,
            },
            ("month", "channel", "spend"),
            key=("spend_id",),
            generated_id="SP-",
        ),
    )
}

#: Entities ordered longest name first: a file belongs to the longest entity its name starts with.
ENTITIES_BY_PREFIX: tuple[str, ...] = tuple(sorted(ENTITIES, key=len, reverse=True))

#: The date that places a row in time: a row dated after a refresh's as-of date is *deferred*
#: (kept in raw, left out of that refresh, not quarantined). Order lines follow their order.
AS_OF_COLUMNS: dict[str, str] = {
    "orders": "order_date",
    "customers": "created_at",
    "refunds": "refunded_at",
    "nps_responses": "responded_at",
    "support_tickets": "created_at",
    "campaign_contacts": "contacted_at",
    "marketing_spend": "month",
}
