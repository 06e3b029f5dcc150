"""How a delimited text file is written: delimiter, quote character, decimal mark.

:func:`sniff` looks at the header and the first lines of a file and picks

- the delimiter: comma, semicolon, tab, ``|`` or runs of spaces (the one that splits every
  sampled line into the same number of fields, at least two; ties go to the comma, then
  tab, semicolon, ``|`` and spaces);
- the quote character: ``'`` when header fields are wrapped in single quotes (as in
  ``'age' 'income'``) and none in double quotes, ``"`` otherwise;
- the decimal mark: ``,`` when the delimiter is not a comma and numbers such as ``3,14``
  appear in the sample (the usual European export: ``;`` between fields, ``,`` in numbers).

``MISSING_VALUES`` is the documented set of cells read as missing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import DataError

__all__ = ["Dialect", "sniff", "MISSING_VALUES", "parse_delimiter"]

#: Cells read as missing (after stripping surrounding spaces), in every reader and engine.
MISSING_VALUES = ("", "NA", "NaN", "nan", "N/A", "null", "?")

_CANDIDATES = (",", "\t", ";", "|", " ")
_NAMES = {",": "comma ','", "\t": "tab", ";": "semicolon ';'", "|": "pipe '|'",
          " ": "runs of spaces"}
_ALIASES = {"comma": ",", "tab": "\t", "\\t": "\t", "semicolon": ";", "pipe": "|",
            "space": " ", "spaces": " ", "whitespace": " "}
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+([eE][+-]?\d+)?\s*$")
_SAMPLE_LINES = 50


@dataclass(frozen=True)
class Dialect:
    """A file's delimiter, quote character and decimal mark.

    Attributes
    ----------
    delimiter : str
        One character; ``' '`` means runs of spaces (leading and trailing spaces ignored).
    quotechar : str
        ``'"'`` or ``"'"``.
    decimal : str
        ``'.'`` or ``','``.
    detected : bool
        False when the delimiter was given by the caller.
    """

    delimiter: str = ","
    quotechar: str = '"'
    decimal: str = "."
    detected: bool = True

    def describe(self) -> str:
        """E.g. ``"delimiter semicolon ';' (detected), decimal comma"``."""
        how = "detected" if self.detected else "given"
        text = f"delimiter {_NAMES.get(self.delimiter, repr(self.delimiter))} ({how})"
        if self.quotechar != '"':
            text += f", quote {self.quotechar!r}"
        if self.decimal != ".":
            text += ", decimal comma"
        return text

    def hint(self) -> str:
        """The suffix of a parse error: what was assumed and how to change it."""
        return (f"(read with {self.describe()}; pass --delimiter / delimiter= to force "
                f"another)")

    def reader(self, lines: Iterable[str]) -> Iterator[list[str]]:
        """A ``csv.reader`` over an iterable of lines in this dialect."""
        if self.delimiter == " ":
            lines = (line.strip(" \r\n") for line in lines)
            return csv.reader(lines, delimiter=" ", quotechar=self.quotechar,
                              skipinitialspace=True)
        return csv.reader(lines, delimiter=self.delimiter, quotechar=self.quotechar)


def parse_delimiter(text: str) -> str:
    """A ``--delimiter`` value: one character, or a name (comma, tab, semicolon, space...)."""
    value = _ALIASES.get(text.lower(), text)
    if len(value) != 1 or value in "\r\n\"'":
        raise ValueError(f"delimiter must be one character or one of {sorted(_ALIASES)}, "
                         f"got {text!r}")
    return value


def _counts(lines, delimiter, quotechar):
    try:
        rows = list(Dialect(delimiter, quotechar).reader(lines))
    except csv.Error:
        return None
    return [len(r) for r in rows]


def _wrapped(fields, q):
    return sum(1 for f in fields if len(f.strip()) >= 2 and f.strip()[0] == f.strip()[-1] == q)


def _quotechar(header, delimiter):
    fields = header.strip().split(delimiter) if delimiter != " " else header.split()
    return "'" if _wrapped(fields, "'") and not _wrapped(fields, '"') else '"'


def _choose_delimiter(lines):
    best = None
    for rank, d in enumerate(_CANDIDATES):
        q = _quotechar(lines[0], d)
        counts = _counts(lines, d, q)
        if not counts or counts[0] < 2:
            continue
        agree = sum(c == counts[0] for c in counts) / len(counts)
        key = (agree == 1.0, agree, counts[0], -rank)
        if best is None or key > best[0]:
            best = (key, d)
    return best[1] if best else ","


def sniff(text: str, delimiter: str | None = None, at_eof: bool = True) -> Dialect:
    """Guess the dialect of a file from the text of its beginning.

    Parameters
    ----------
    text : str
        The first kilobytes of the file (decoded).
    delimiter : str, optional
        Force the delimiter (``' '`` for runs of spaces); quote and decimal mark are
        still detected.
    at_eof : bool, default True
        False when ``text`` is a prefix: its last, possibly cut, line is not sampled.

    Returns
    -------
    Dialect
    """
    lines = text.splitlines()
    if not at_eof and len(lines) > 1:
        lines = lines[:-1]
    lines = [ln for ln in lines if ln.strip()][:_SAMPLE_LINES]
    if not lines:
        return Dialect(delimiter or ",", detected=delimiter is None)
    detected = delimiter is None
    if delimiter is None:
        delimiter = _choose_delimiter(lines)
    quotechar = _quotechar(lines[0], delimiter)
    decimal = "."
    if delimiter != ",":
        try:
            cells = [c for row in Dialect(delimiter, quotechar).reader(lines[1:]) for c in row]
        except csv.Error as e:
            raise DataError(f"malformed text near the top of the file ({e})") from None
        if any(_DECIMAL_COMMA.match(c) for c in cells):
            decimal = ","
    return Dialect(delimiter, quotechar, decimal, detected)
