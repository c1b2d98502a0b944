"""The entities the landing directory may hold and their canonical columns.

This is the single place that says which columns exist, which are required, and how each one is
typed during cleaning; extraction, cleaning and the input-contract documentation all follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class EntitySpec:
    """One landing entity: its canonical columns (name -> kind) and the required subset.

    `key` is the clean table's primary key; `generated_id` the prefix of the id generated from
    the row's content when the export has none (the key is then that one column); `added` the
    columns cleaning adds after the canonical ones (not read from the files). The clean table's
    columns are `clean_columns()`: nothing else lists them.
    """

    name: str
    columns: dict[str, str]
    required: tuple[str, ...]
    key: tuple[str, ...]
    generated_id: str = ""
    added: dict[str, str] = field(default_factory=dict)

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

#: Order statuses of the input contract; an empty status is the default. The one home of the
#: rule: cleaning quarantines any other value (unknown_status), the clean_orders gate reads it as
#: the suite parameter `order_statuses`, and the demo generator writes these.
ORDER_STATUSES: tuple[str, ...] = ("completed", "cancelled", "returned")
DEFAULT_ORDER_STATUS = "completed"

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
