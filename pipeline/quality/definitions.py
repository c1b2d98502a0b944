"""Quality domain: one blocking asset check per gate file, on the asset the gate protects.

Landing gates sit on the raw assets (they also keep `quality.load_history`), clean gates on the
clean tables, the identity gate on the identity map, mart gates on the dbt models. A failed
`error` expectation stops everything downstream of the checked asset in the run; the
publication step is downstream of the marts, so nothing failing a gate gets published.
"""

import dagster as dg

from pipeline.quality.checks import build_gate_check
from pipeline.segments.assets import model_key


def _raw(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", entity])


def _clean(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["clean", entity])


IDENTITY_MAP_KEY = dg.AssetKey(["identity", "customer_identity_map"])


def _model(name: str) -> dg.AssetKey:
    # dbt keys come from the manifest (contract): never spelled out as strings here.
    return model_key(name)


quality_checks = [
    # Landing: required columns and volume against the last accepted load.
    build_gate_check("raw_orders", _raw("orders"), volume_entity="orders"),
    build_gate_check("raw_customers", _raw("customers"), volume_entity="customers"),
    build_gate_check("raw_refunds", _raw("refunds"), volume_entity="refunds"),
    # Clean: keys, amounts, dates, e-mails and quarantine rates.
    build_gate_check("clean_orders", _clean("orders")),
    build_gate_check("clean_customers", _clean("customers")),
    build_gate_check("clean_refunds", _clean("refunds")),
    # Every order's customer resolved: needs the orders as well as the map.
    build_gate_check("identity_resolution", IDENTITY_MAP_KEY, additional_deps=[_clean("orders")]),
    # Marts (dbt): the revenue reconciliation reads clean tables and the identity map.
    build_gate_check(
        "customer_rfm",
        _model("customer_rfm"),
        additional_deps=[_clean("orders"), _clean("refunds"), IDENTITY_MAP_KEY],
    ),
    build_gate_check(
        "segment_kpis", _model("segment_kpis"), additional_deps=[_model("customer_rfm")]
    ),
    build_gate_check("cohort_retention", _model("cohort_retention")),
    # The segment_map seed has no gate: its dbt tests own it (docs/quality.md, who owns which rule).
]

defs = dg.Definitions(asset_checks=quality_checks)
