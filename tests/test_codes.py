"""The row codes the dbt macros write are the ones the Python side reads."""

from __future__ import annotations

import re

from pipeline.lib import codes
from pipeline.lib.dbt_vars import DBT_PROJECT_FILE, dbt_var_defaults
from pipeline.lib.resources import RefreshSettings

MACROS = DBT_PROJECT_FILE.parent / "macros" / "segment_labels.sql"


def _macro_literal(name: str) -> str:
    text = MACROS.read_text(encoding="utf-8")
    match = re.search(rf"macro {name}\(\)\s*-?%\}}\s*'([^']*)'", text)
    assert match, f"macro {name} not found in {MACROS}"
    return match.group(1)


def test_overall_and_unscored_codes_match_the_dbt_macros() -> None:
    assert _macro_literal("overall_label") == codes.OVERALL
    assert _macro_literal("unscored_segment") == codes.UNSCORED
    breakdowns = (
        DBT_PROJECT_FILE.parent / "models" / "marts" / "segment_persona_breakdowns.sql"
    ).read_text(encoding="utf-8")
    assert f"'{codes.OTHER_VALUES}'" in breakdowns


def test_marketing_settings_default_to_the_dbt_project_vars() -> None:
    """One place for each default: RefreshSettings reads dbt_project.yml, and passes them on."""
    defaults = dbt_var_defaults()
    passed = RefreshSettings(as_of="2026-10-01").dbt_vars()
    for name in (
        "attribution_window_days",
        "star_min_customers",
        "persona_min_customers",
        "nps_min_responses",
        "priority_impact_weight",
    ):
        assert passed[name] == defaults[name], name
    assert (
        RefreshSettings(as_of="2026-10-01", star_min_customers=3).dbt_vars()["star_min_customers"]
        == 3
    )
