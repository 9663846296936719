"""Reading a prospects CSV's bytes as text: the encoding, the delimiter, and whether it is text at all.

* **Encoding**: UTF-8 (with or without BOM), UTF-16/UTF-32 with a BOM, else Windows-1252 (which
  covers Latin-1 text), with a warning. Stray non-UTF-8 bytes in a UTF-8 file are read as
  Windows-1252 too, also with a warning (counted through :data:`FALLBACK`).
* **Delimiter**: comma, semicolon or tab (``csv.Sniffer``, checked against the header line), or
  Excel's ``sep=;`` first line (:data:`SEP_LINE`).
"""

from __future__ import annotations

import codecs
import contextvars
import csv
import io
import re
from typing import IO, TYPE_CHECKING, Final

from chalicelib.domain import uploads as rules
from chalicelib.domain.errors import UploadRejectedError
from chalicelib.domain.prospects_csv.limits import PREAMBLE_LINES

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

DELIMITERS: Final = (",", ";", "\t")
#: Excel's first line naming the delimiter (``sep=;``).
SEP_LINE: Final = re.compile(r'^\s*"?sep=(.)"?\s*$', re.IGNORECASE)


def detect_encoding(head: bytes) -> tuple[str, str | None]:
    """The Python codec to read the file with, from its first bytes, and a warning if guessed.

    Byte-order marks decide first (UTF-8, UTF-32, UTF-16); else bytes that are valid UTF-8 are
    UTF-8; else Windows-1252 (a superset of Latin-1's letters: what Excel saves on Windows).
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Valid multi-byte UTF-8 ("é" as C3 A9) beside stray bytes: a UTF-8 file with a few
        # Windows-1252 rows pasted in. Read it as UTF-8; the stray bytes fall back (and are counted).
        decoded = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
        if any(ord(ch) > 127 and ch != "\ufffd" for ch in decoded):
            return "utf-8", None
        return "cp1252", (
            "the file is not UTF-8, so it was read as Windows-1252 (Western European); if names "
            'look wrong, save it as "CSV UTF-8" and upload it again'
        )
    return "utf-8", None


def detect_delimiter(sample: str) -> str:
    """Comma, semicolon or tab: ``csv.Sniffer`` on ``sample`` (whole lines of the file's start),
    kept only when it also splits the header line; else the one the header line has most of.

    The header line is the first that any delimiter splits, within :data:`PREAMBLE_LINES`: an
    export may open with a line of notes (LinkedIn's "Notes:") before its column names.
    """
    lines = sample.split("\n", PREAMBLE_LINES + 1)[: PREAMBLE_LINES + 1]
    header = next((line for line in lines if _splits(line)), lines[0])
    counts = {d: _count_unquoted(header, d) for d in DELIMITERS}
    cut = sample.rfind("\n")
    try:
        sniffed: str | None = (
            csv.Sniffer().sniff(sample[:cut] if cut > 0 else sample, "".join(DELIMITERS)).delimiter
        )
    except csv.Error:
        sniffed = None
    if sniffed in counts and counts[sniffed] > 0:
        return sniffed
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _splits(line: str) -> bool:
    return any(_count_unquoted(line, d) for d in DELIMITERS)


def _count_unquoted(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


_BINARY_MAGIC = (
    (b"\xd0\xcf\x11\xe0", "this is an old Excel (.xls) file; export the sheet as CSV and upload that"),
    (b"%PDF", "this is a PDF, not a CSV file"),
    (b"\x89PNG", "this is an image, not a CSV file"),
    (b"\xff\xd8\xff", "this is an image, not a CSV file"),
    (b"GIF8", "this is an image, not a CSV file"),
    (b"\x1f\x8b", "this is a compressed (gzip) file; upload the CSV itself"),
)


#: How much of a file's start the text checks look at.
_TEXT_SAMPLE_BYTES = 4096
#: Bytes that are not UTF-8 are read as Windows-1252; below this share of text characters in
#: that reading, they are not text at all (see :func:`_text_share`).
_MIN_TEXT_SHARE = 0.85
_NOT_TEXT = "this is not a text CSV file"


def check_text(head: bytes) -> None:
    """Reject a file whose first bytes are not text (spreadsheets, images, archives, random bytes).

    Raises
    ------
    UploadRejectedError
        With a hint of what the file is instead.
    """
    for magic, message in _BINARY_MAGIC:
        if head.startswith(magic):
            raise UploadRejectedError(message)
    rules.check_text(head)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    sample = head[:_TEXT_SAMPLE_BYTES]
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if controls * 20 > len(sample):
        raise UploadRejectedError(_NOT_TEXT)
    share = _text_share(sample)
    if share is not None and share < _MIN_TEXT_SHARE:
        raise UploadRejectedError(_NOT_TEXT)


def _text_share(sample: bytes) -> float | None:
    """The share of characters text is made of, in ``sample`` read as a file that is not UTF-8 is
    read here (Windows-1252, alone or for the stray bytes in UTF-8); None when it is UTF-8.

    Text is ASCII letters, digits, punctuation and whitespace, plus letters of any script: a
    Western European export is nearly all that, with the odd "€" or curly quote, and so is a
    Greek or Cyrillic file in its own legacy code page. Bytes that were never text are not:
    read as Windows-1252, a random byte is a letter barely half the time, else a symbol, a C1
    control or one of the five bytes Windows-1252 leaves undefined.
    """
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return None  # valid UTF-8 (a sequence cut off at the end of the sample included)
    except UnicodeDecodeError:
        pass
    encoding, _ = detect_encoding(sample)
    text = codecs.getincrementaldecoder(encoding)(errors=errors_for(encoding)).decode(sample, final=False)
    if not text:
        return None
    texty = sum(1 for ch in text if ch.isalpha() or (ch.isascii() and (ch.isprintable() or ch in "\t\r\n")))
    return texty / len(text)


# Bytes that are not UTF-8 in a file that began as UTF-8 are read as Windows-1252 (and counted
# for a warning); Windows-1252's five unassigned bytes are read as Latin-1 code points.
FALLBACK: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("csv_fallback", default=None)


def _as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    counter = FALLBACK.get()
    if counter is not None:
        counter[0] += len(bad)
    return bytes(bad).decode("cp1252", errors=_LATIN1_HANDLER), exc.end


def _as_latin1(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return bytes(exc.object[exc.start : exc.end]).decode("latin-1"), exc.end


# Handler names are process-global: each copy of this module (CDK synth imports a staged copy of
# the app) registers its own, so a later copy never redirects this one's counting.
_CP1252_HANDLER = f"tailorcast-cp1252-{id(FALLBACK):x}"
_LATIN1_HANDLER = f"tailorcast-latin1-{id(FALLBACK):x}"
codecs.register_error(_LATIN1_HANDLER, _as_latin1)
codecs.register_error(_CP1252_HANDLER, _as_cp1252)


def errors_for(codec: str) -> str:
    """The decoding error handler for ``codec``: stray bytes fall back to Windows-1252 (counted)."""
    if codec in ("utf-8", "utf-8-sig"):
        return _CP1252_HANDLER
    if codec == "cp1252":
        return _LATIN1_HANDLER
    return "replace"


class Replay(io.RawIOBase):
    """The bytes already read to sniff the file, then the rest of the source stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        out = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(out), len(self._head))
            out[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(out))
        out[: len(data)] = data
        return len(data)
