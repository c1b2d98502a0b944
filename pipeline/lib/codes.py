"""Row codes the marts write that are not rows of a seed, as the Python side reads them.

The dbt macros in `dbt_project/macros/segment_labels.sql` write them (`overall_label()`,
`unscored_segment()`); `tests/test_codes.py` checks that both spell them the same.
"""

#: The overall row of per-segment and per-channel marts (segment_kpis, kpi_history, themes...).
OVERALL = "All"
#: Customers without a segment at the as-of date (customer_dimensions, campaign KPIs).
UNSCORED = "Unscored"
#: Merged small cells of segment_persona_breakdowns.
OTHER_VALUES = "other_values"
