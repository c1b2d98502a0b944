"""The row codes the dbt macros write are the ones the Python side reads."""

from __future__ import annotations

import re

from pipeline.lib import codes
from pipeline.lib.paths import DBT_PROJECT_DIR

MACROS = DBT_PROJECT_DIR / "macros" / "segment_labels.sql"


def _macro_literal(name: str) -> str:
    text = MACROS.read_text(encoding="utf-8")
    match = re.search(rf"macro {name}\(\)\s*-?%\}}\s*'([^']*)'", text)
    assert match, f"macro {name} not found in {MACROS}"
    return match.group(1)


def test_overall_and_unscored_codes_match_the_dbt_macros() -> None:
    assert _macro_literal("overall_label") == codes.OVERALL
    assert _macro_literal("unscored_segment") == codes.UNSCORED
    breakdowns = (
        DBT_PROJECT_DIR / "models" / "marts" / "segment_persona_breakdowns.sql"
    ).read_text(encoding="utf-8")
    assert f"'{codes.OTHER_VALUES}'" in breakdowns


def test_every_cluster_trait_word_is_translated() -> None:
    """The report prints the behaviour clusters' trait words (cluster_profiles.persona) through
    i18n: each word the clustering can write has a label in every language."""
    from pipeline.predictions.clustering import PERSONA_WORDS
    from pipeline.report.i18n import CODES

    words = {word for _, high, low in PERSONA_WORDS for word in (high, low)}
    words.add("average behaviour")
    for language, domains in CODES.items():
        assert set(domains["trait"]) == words, language
