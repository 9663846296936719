"""How much of a prospects CSV is read and kept: the bounds every part of the import shares."""

from __future__ import annotations

from typing import Final

#: Data rows one file may hold; rows after it are counted as failed and not imported.
MAX_ROWS: Final = 50_000
#: Row errors kept on the import (every failed row is still counted).
MAX_STORED_ERRORS: Final = 1_000
#: Columns read from a file (the rest are ignored), and how many of them may be custom fields.
MAX_COLUMNS: Final = 1_000
MAX_CUSTOM_COLUMNS: Final = 100
#: A custom field's name and value are cut to these lengths (DynamoDB items are at most 400 KB).
MAX_LABEL_CHARS: Final = 64
MAX_CUSTOM_VALUE_CHARS: Final = 1_000

#: The file's start read to detect its encoding and delimiter, and the characters of it sniffed.
SNIFF_BYTES: Final = 64 * 1024
SNIFF_CHARS: Final = 16 * 1024
#: Rows of notes an export may put above its column names (LinkedIn's "Notes:"), at most.
PREAMBLE_LINES: Final = 10
