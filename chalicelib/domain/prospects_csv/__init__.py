"""Prospect CSV import: read an uploaded CSV, map its columns, validate each row and add it.

Pure: the file arrives as a binary stream and prospects leave through the
:class:`~chalicelib.domain.ports.ProspectWriter` port. One module per step, in the order a file
goes through them:

* :mod:`.decoding`: bytes to text (encoding, delimiter, is it text at all);
* :mod:`.columns`: header names and which column feeds which field (:func:`map_columns`);
* :mod:`.rows`: the opened file, each row validated into a prospect or its errors;
* :mod:`.importer`: the import itself and its tally, or a preview with nothing written;
* :mod:`.limits`: the bounds they share.

The names below are the package's public face; import them from here. May import: the rest of
the domain and the standard library, like all of the domain (contract ``domain-pure``).
"""

from __future__ import annotations

from chalicelib.domain.prospects_csv.columns import (
    ALIASES,
    CUSTOM,
    FIELDS,
    IGNORE,
    TARGETS,
    Column,
    Mapping,
    header_key,
    map_columns,
    normalize_header,
)
from chalicelib.domain.prospects_csv.decoding import DELIMITERS, check_text, detect_delimiter, detect_encoding
from chalicelib.domain.prospects_csv.importer import (
    ImportTally,
    Preview,
    import_prospects,
    preview_prospects,
)
from chalicelib.domain.prospects_csv.limits import (
    MAX_COLUMNS,
    MAX_CUSTOM_COLUMNS,
    MAX_CUSTOM_VALUE_CHARS,
    MAX_LABEL_CHARS,
    MAX_ROWS,
    MAX_STORED_ERRORS,
    SNIFF_BYTES,
)
from chalicelib.domain.prospects_csv.rows import ProspectsCsv, read_prospects_csv, split_full_name

__all__ = [
    "ALIASES",
    "CUSTOM",
    "DELIMITERS",
    "FIELDS",
    "IGNORE",
    "MAX_COLUMNS",
    "MAX_CUSTOM_COLUMNS",
    "MAX_CUSTOM_VALUE_CHARS",
    "MAX_LABEL_CHARS",
    "MAX_ROWS",
    "MAX_STORED_ERRORS",
    "SNIFF_BYTES",
    "TARGETS",
    "Column",
    "ImportTally",
    "Mapping",
    "Preview",
    "ProspectsCsv",
    "check_text",
    "detect_delimiter",
    "detect_encoding",
    "header_key",
    "import_prospects",
    "map_columns",
    "normalize_header",
    "preview_prospects",
    "read_prospects_csv",
    "split_full_name",
]
