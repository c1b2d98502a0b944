"""Phone normalisation to E.164 with `phonenumbers`, applied to distinct values only."""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers

DEFAULT_REGION = "FR"


def to_e164(raw: str, region: str | None) -> str | None:
    """E.164 form of `raw` (national numbers read in `region`, FR when unknown), else None.

    A number must have exactly a possible length for its region, not merely be parseable, so
    typos such as a missing digit are removed rather than published. Prefix ranges are not
    checked: numbering plans change faster than libphonenumber releases, and rejecting a real
    customer's new mobile range would cost identity matches.
    """
    region = (region or DEFAULT_REGION).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = DEFAULT_REGION
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_many(
    pairs: Iterable[tuple[str, str | None]],
) -> list[tuple[str, str | None, str | None]]:
    """(raw, region) pairs -> (raw, region, e164 or None) triples, for a join back in SQL."""
    return [(raw, region, to_e164(raw, region)) for raw, region in pairs]
