"""Format detection for landing files: encoding, delimiter, decimal separator, date format.

Each detector returns the value *and* a short human reason, so extraction can log exactly why a
file was read the way it was (a wrong guess must be visible in the run log, never silent).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_CHUNK = 16 * 1024 * 1024
_SAMPLE_BYTES = 256 * 1024
UTF8_BOM = codecs.BOM_UTF8
#: Bytes that are undefined in Windows-1252; a file containing them is read as Latin-1.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


@dataclass(frozen=True)
class Detected:
    """A detected setting and the evidence for it (logged per file)."""

    value: str
    reason: str


def open_binary(path: Path) -> BinaryIO:
    """Open a landing file for reading bytes, transparently un-gzipping `.gz` files."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def iter_chunks(path: Path, size: int = _CHUNK) -> Iterator[bytes]:
    """The (decompressed) content of `path` in chunks, so huge files never sit in memory."""
    with open_binary(path) as fh:
        while chunk := fh.read(size):
            yield chunk


def detect_encoding(path: Path) -> tuple[Detected, int]:
    """Detect utf-8 / utf-8-sig / cp1252 / latin-1 by streaming the whole file once.

    Returns the detection and the number of invalid UTF-8 sequences found when UTF-8 was chosen
    (those bytes become U+FFFD, and cleaning quarantines their rows as `invalid_encoding`).
    A file is UTF-8 when it decodes strictly, or when its valid multi-byte sequences outnumber
    the invalid ones (a UTF-8 export with a few corrupt rows); otherwise it is a single-byte
    Windows encoding: cp1252, or latin-1 when it holds bytes cp1252 leaves undefined.
    """
    # "replace" turns each invalid sequence into one U+FFFD, which we count.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    has_bom = False
    first = True
    invalid = 0
    multibyte = 0
    non_ascii = False
    cp1252_undefined = False
    for chunk in iter_chunks(path):
        if first:
            has_bom = chunk.startswith(UTF8_BOM)
            first = False
        if chunk.isascii():
            continue
        non_ascii = True
        cp1252_undefined = cp1252_undefined or any(bytes([b]) in chunk for b in _CP1252_UNDEFINED)
        text = decoder.decode(chunk)
        bad = text.count("\ufffd")
        invalid += bad
        # Non-ASCII characters counted at C speed: the length lost by an ASCII-only encode.
        multibyte += len(text) - len(text.encode("ascii", "ignore")) - bad
    invalid += decoder.decode(b"", final=True).count("\ufffd")
    if not non_ascii:
        return Detected("utf-8", "ASCII only"), 0
    name = "utf-8-sig" if has_bom else "utf-8"
    if invalid == 0:
        return Detected(name, "valid UTF-8" + (" with BOM" if has_bom else "")), 0
    if has_bom or multibyte > invalid:
        return (
            Detected(name, f"UTF-8 with {invalid} undecodable byte sequence(s)"),
            invalid,
        )
    if cp1252_undefined:
        return Detected("latin-1", "not UTF-8; bytes undefined in Windows-1252 present"), 0
    return Detected("cp1252", "not UTF-8; single-byte Windows-1252 text"), 0


def transcode_to_utf8(path: Path, encoding: str, target: Path) -> None:
    """Write `path` decoded with `encoding` (undecodable bytes -> U+FFFD) as UTF-8 to `target`."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    with target.open("w", encoding="utf-8", newline="") as out:
        for chunk in iter_chunks(path):
            out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))


def read_sample_text(path: Path, encoding: str, size: int = _SAMPLE_BYTES) -> str:
    """The first `size` bytes of the file as text (the last, possibly cut, line dropped)."""
    with open_binary(path) as fh:
        raw = fh.read(size)
        more = bool(fh.read(1))
    text = raw.decode(encoding, errors="replace")
    if more and "\n" in text:
        text = text[: text.rfind("\n") + 1]
    return text


def detect_delimiter(sample: str) -> Detected:
    """Pick `,` `;` or tab: the candidate giving the most header fields with consistent rows.

    Parsing with the csv module (not counting characters) keeps quoted fields such as
    "12,50" or "Dupont; Jean" from voting for the wrong delimiter.
    """
    lines = sample.splitlines(keepends=True)[:200]
    best: tuple[int, int, str] | None = None
    for delim in (";", "\t", ","):
        rows = list(csv.reader(io.StringIO("".join(lines)), delimiter=delim))
        rows = [r for r in rows if r]
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows[1:] if len(r) == width)
        score = (consistent if width > 1 else -1, width, delim)
        if best is None or score[:2] > best[:2]:
            best = score
    if best is None or best[1] <= 1:
        return Detected(",", "single column or empty sample; defaulting to ','")
    shown = "\\t" if best[2] == "\t" else best[2]
    return Detected(best[2], f"'{shown}' splits the header into {best[1]} columns")


def read_header(sample: str, delimiter: str) -> list[str]:
    """The header fields of a CSV sample (BOM already removed by decoding)."""
    for row in csv.reader(io.StringIO(sample.lstrip("\ufeff")), delimiter=delimiter):
        if row:
            return row
    return []


_COMMA_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
_DOT_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)\.\d+$")
#: SQL twins of the patterns above, used when counting over a whole staged file.
COMMA_DECIMAL_SQL = r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+"
DOT_DECIMAL_SQL = r"[+-]?(\d{1,3}(,\d{3})+|\d+)\.\d+"


def decide_decimal(comma_votes: int, dot_votes: int, example: str | None) -> Detected:
    """Decimal separator from counts of comma-decimal and dot-decimal numeric values."""
    if comma_votes and not dot_votes:
        return Detected(",", f"{comma_votes} value(s) use a decimal comma, e.g. {example!r}")
    if dot_votes and not comma_votes:
        return Detected(".", f"{dot_votes} value(s) use a decimal point")
    if comma_votes and dot_votes:
        return Detected(
            ".",
            f"AMBIGUOUS: {dot_votes} value(s) with a decimal point and {comma_votes} with a "
            "comma; using '.', set decimal_separator in the mapping to override",
        )
    return Detected(".", "no decimals seen; using '.'")


def decimal_votes(values: Iterable[str]) -> tuple[int, int, str | None]:
    """Count comma-decimal and dot-decimal values (pure-Python twin of the SQL count)."""
    comma = dot = 0
    example = None
    for value in values:
        v = value.strip()
        if _COMMA_DECIMAL.match(v):
            comma += 1
            example = example or v
        elif _DOT_DECIMAL.match(v):
            dot += 1
    return comma, dot, example


#: d/m/y-like dates with any of / . - as separator, optionally followed by a time.
SLASH_DATE_SQL = r"^\s*(\d{1,2})([/.-])(\d{1,2})[/.-](\d{2}|\d{4})(\b.*)?$"
ISO_DATE_SQL = r"^\s*\d{4}-\d{2}-\d{2}"


def decide_date_format(
    iso: int,
    slash: int,
    first_gt12: str | None,
    second_gt12: str | None,
    separator: str | None,
    year_digits: int,
) -> Detected:
    """Date format from counts over the file's date columns.

    Day-first is chosen when a first component exceeds 12, month-first when a second one does;
    when no value disambiguates, day-first is assumed (the French/European convention of this
    pipeline) and the reason says so loudly, so the log shows the guess.
    """
    if not slash:
        return Detected("iso", f"{iso} ISO value(s)" if iso else "no date values seen; ISO")
    sep = separator or "/"
    year = "%Y" if year_digits == 4 else "%y"
    day_first = f"%d{sep}%m{sep}{year}"
    month_first = f"%m{sep}%d{sep}{year}"
    if first_gt12 and second_gt12:
        return Detected(
            day_first,
            f"CONFLICT: {first_gt12!r} is day-first but {second_gt12!r} is month-first; "
            f"using {day_first}, set date_format in the mapping to override",
        )
    if first_gt12:
        return Detected(day_first, f"day-first: {first_gt12!r} has a day > 12")
    if second_gt12:
        return Detected(month_first, f"month-first: {second_gt12!r} has a day > 12")
    return Detected(
        day_first,
        f"AMBIGUOUS: no day > 12 among {slash} value(s); assuming day-first {day_first}, "
        "set date_format in the mapping to override",
    )
