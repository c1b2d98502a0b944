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


class UnreadableFileError(ValueError):
    """The file is not delimited text the pipeline can decode (binary, archive, unknown UTF)."""


#: Byte-order marks checked longest first (UTF-32 LE starts with the UTF-16 LE mark).
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (UTF8_BOM, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Magic numbers of files that are often misnamed .csv: what they are and what to do instead.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip archive named without .gz: name it .csv.gz"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?): export the sheet as CSV"),
    (b"PAR1", "a Parquet file: name it .parquet"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office document (.xls?): export the sheet as CSV"),
    (b"%PDF", "a PDF document, not a CSV export"),
)


@dataclass(frozen=True)
class FileScan:
    """What one streaming pass over a text file found: encoding and line endings.

    `line_endings` is LF, CRLF, CR or mixed. `needs_rewrite` says the file must be read through
    a normalised UTF-8 copy: DuckDB's strict CSV parser refuses mixed line endings, and a blank
    line between rows would shift the row numbers it reports (it skips blank lines but counts
    them in its line numbers).
    """

    encoding: Detected
    invalid_bytes: int = 0
    line_endings: str = "LF"
    blank_lines: bool = False

    @property
    def needs_rewrite(self) -> bool:
        """True when the file is read through a normalised copy (see the class docstring)."""
        return self.line_endings == "mixed" or self.blank_lines


def _refuse_binary(head: bytes, name: str) -> str | None:
    """A clear reason when `head` (the first bytes) is not text in a supported encoding.

    UTF-16 without a byte-order mark is recognised by its NUL bytes in every other position
    (ASCII text); any other NUL byte means binary content.
    """
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"{name}: not a CSV text file: {what}"
    if b"\x00" not in head:
        return None
    offset = head.index(b"\x00")
    return (
        f"{name}: not a CSV text file: binary content (NUL byte at offset "
        f"{offset}); export the data as CSV (UTF-8, Windows-1252 or UTF-16)"
    )


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when NUL bytes sit in every other position (ASCII as UTF-16)."""
    even, odd = head[0::2], head[1::2]
    if len(head) < 4:
        return None
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _line_endings(crlf: int, cr: int, lf: int) -> str:
    lone_cr, bare_lf = cr - crlf, lf - crlf
    kinds = [k for k, n in (("CRLF", crlf), ("CR", lone_cr), ("LF", bare_lf)) if n]
    return kinds[0] if len(kinds) == 1 else ("LF" if not kinds else "mixed")


_BLANK_LINE = re.compile(rb"\n(?:\r?\n)+|\r\r+")


def _has_inner_blank_line(chunk: bytes, last: bool) -> bool:
    """True when a blank line (two line ends in a row) is followed by more data."""
    for match in _BLANK_LINE.finditer(chunk):
        rest = chunk[match.end() :]
        if rest.strip(b"\r\n") or not last:
            return True
    return False


def scan_file(path: Path, name: str | None = None) -> FileScan:
    """Detect encoding and line endings by streaming the whole file once.

    Encodings: utf-8 / utf-8-sig / cp1252 / latin-1, and UTF-16 / UTF-32 (with a byte-order
    mark, or UTF-16 recognised by its NUL pattern). A file is UTF-8 when it decodes strictly, or
    when its valid multi-byte sequences outnumber the invalid ones (a UTF-8 export with a few
    corrupt rows: those bytes become U+FFFD and cleaning quarantines their rows as
    `invalid_encoding`); otherwise it is a single-byte Windows encoding: cp1252, or latin-1
    when it holds bytes cp1252 leaves undefined. Binary files and archives raise
    `UnreadableFileError` naming the file and what it looks like.
    """
    name = name or path.name
    with open_binary(path) as fh:
        head = fh.read(64 * 1024)
    bom = next((enc for mark, enc in _BOMS if head.startswith(mark)), None)
    if bom in ("utf-16", "utf-32"):
        return FileScan(Detected(bom, f"{bom.upper()} with byte-order mark"))
    if bom is None and (utf16 := _utf16_without_bom(head)):
        return FileScan(Detected(utf16, "UTF-16 without byte-order mark (NUL bytes pattern)"))
    refused = _refuse_binary(head, name)
    if refused:
        raise UnreadableFileError(refused)
    # "replace" turns each invalid sequence into one U+FFFD, which we count.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    has_bom = bom == "utf-8-sig"
    invalid = multibyte = crlf = cr = lf = 0
    non_ascii = cp1252_undefined = blank = False
    previous = b""
    chunks = iter_chunks(path)
    chunk = next(chunks, b"")
    while chunk:
        following = next(chunks, b"")
        # Line-end counts are C-speed byte counts; a CRLF split across two chunks counts once.
        has_cr = b"\r" in chunk
        if has_cr:
            crlf += chunk.count(b"\r\n") + (previous.endswith(b"\r") and chunk.startswith(b"\n"))
            cr += chunk.count(b"\r")
        lf += chunk.count(b"\n")
        if not blank and (
            b"\n\n" in chunk or (has_cr and (b"\n\r\n" in chunk or b"\r\r" in chunk))
        ):
            blank = _has_inner_blank_line(chunk, last=not following)
        previous = chunk
        if b"\x00" in chunk:
            raise UnreadableFileError(
                f"{name}: not a CSV text file: binary content (NUL byte after the first "
                "64 KB); export the data as CSV"
            )
        if not chunk.isascii():
            non_ascii = True
            cp1252_undefined = cp1252_undefined or any(
                bytes([b]) in chunk for b in _CP1252_UNDEFINED
            )
            text = decoder.decode(chunk)
            bad = text.count("\ufffd")
            invalid += bad
            # Non-ASCII characters counted at C speed: the length lost by an ASCII-only encode.
            multibyte += len(text) - len(text.encode("ascii", "ignore")) - bad
        chunk = following
    invalid += decoder.decode(b"", final=True).count("\ufffd")
    endings = _line_endings(crlf, cr, lf)
    if not non_ascii:
        return FileScan(Detected("utf-8", "ASCII only"), 0, endings, blank)
    enc = "utf-8-sig" if has_bom else "utf-8"
    if invalid == 0:
        reason = "valid UTF-8" + (" with BOM" if has_bom else "")
        return FileScan(Detected(enc, reason), 0, endings, blank)
    if has_bom or multibyte > invalid:
        reason = f"UTF-8 with {invalid} undecodable byte sequence(s)"
        return FileScan(Detected(enc, reason), invalid, endings, blank)
    if cp1252_undefined:
        reason = "not UTF-8; bytes undefined in Windows-1252 present"
        return FileScan(Detected("latin-1", reason), 0, endings, blank)
    return FileScan(
        Detected("cp1252", "not UTF-8; single-byte Windows-1252 text"), 0, endings, blank
    )


def detect_encoding(path: Path) -> tuple[Detected, int]:
    """The encoding of `path` and its count of undecodable UTF-8 sequences (see `scan_file`)."""
    scan = scan_file(path)
    return scan.encoding, scan.invalid_bytes


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR line ends (also inside quoted values) as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _NormalisedWriter:
    """Writes decoded text with LF line ends, optionally without blank lines outside quotes."""

    def __init__(self, out: io.TextIOBase, drop_blank_lines: bool) -> None:
        self.out = out
        self.drop_blank_lines = drop_blank_lines
        self.pending = ""
        self.quoted = False

    def write(self, text: str, final: bool = False) -> None:
        text = self.pending + text
        # A CR ending this piece may be the first half of a CRLF: keep it for the next one.
        keep = 1 if not final and text.endswith("\r") else 0
        self.pending = text[len(text) - keep :]
        text = normalize_newlines(text[: len(text) - keep])
        if not self.drop_blank_lines:
            self.out.write(text)
            return
        lines = text.split("\n")
        last = lines.pop()
        if final:
            if last:
                self.out.write(last)
        else:
            self.pending = last + self.pending
        for line in lines:
            # A blank line inside a quoted value is content; outside, it is not a row.
            if line or self.quoted:
                self.out.write(line + "\n")
            if line.count('"') % 2:
                self.quoted = not self.quoted


def transcode_to_utf8(
    path: Path, encoding: str, target: Path, drop_blank_lines: bool = False
) -> None:
    """Write `path` as UTF-8 with LF line ends to `target` (undecodable bytes -> U+FFFD).

    With `drop_blank_lines`, empty lines outside quoted values are left out (a line-by-line
    pass following the quote parity, taken only for the rare files that hold such lines).
    """
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = _NormalisedWriter(out, drop_blank_lines)
        for chunk in iter_chunks(path):
            writer.write(decoder.decode(chunk))
        writer.write(decoder.decode(b"", final=True), final=True)


def read_sample_text(path: Path, encoding: str, size: int = _SAMPLE_BYTES) -> str:
    """The first `size` bytes of the file as text (the last, possibly cut, line dropped)."""
    with open_binary(path) as fh:
        raw = fh.read(size)
        more = bool(fh.read(1))
    text = normalize_newlines(raw.decode(encoding, errors="replace"))
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
