"""A campaign script with variable slots: "Hi {first_name}, I saw what {company} is doing …".

The script is what the seller reads on camera. Each ``{variable}`` marks where a prospect's value
is spoken. In the recording the seller either says a placeholder value there ("Hi John") or
leaves a pause; the campaign's ``placeholders`` say which.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.models import SLOT_VARIABLES

#: The prospect fields a slot can speak (one definition, in the domain's models).
VARIABLES = SLOT_VARIABLES
_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


@dataclass(frozen=True)
class ScriptToken:
    """A word of the script (lower-case, as the aligner's dictionary spells it) or a slot."""

    text: str
    variable: str | None = None  # set for a slot; ``text`` is then what the seller said, or ""

    @property
    def is_slot(self) -> bool:
        return self.variable is not None


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.replace("’", "'")).encode("ascii", "ignore").decode()
    return _WORD.findall(folded.lower())


def parse_script(script: str, placeholders: Mapping[str, str] | None = None) -> list[ScriptToken]:
    """Split ``script`` into words and slots, in order.

    ``placeholders`` maps a variable to what the seller said in its place ("John"); a variable
    missing from it was left as a pause.

    Raises
    ------
    InvalidInputError
        No script, no ``{variable}`` in it, an unknown variable, or a placeholder value with
        nothing speakable in it.
    """
    placeholders = placeholders or {}
    if not script.strip():
        raise InvalidInputError(
            "the campaign has no script",
            [FieldIssue("script", "write what you say in the video, with {first_name} where the name goes")],
        )
    tokens: list[ScriptToken] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(script):
        tokens += [ScriptToken(w) for w in _words(script[pos : match.start()])]
        variable = match.group(1)
        if variable not in VARIABLES:
            raise InvalidInputError(
                "the script names an unknown variable",
                [
                    FieldIssue(
                        "script", f"{{{variable}}} is not one of: " + ", ".join(f"{{{v}}}" for v in VARIABLES)
                    )
                ],
            )
        spoken = " ".join(_words(placeholders.get(variable, "")))
        if placeholders.get(variable) and not spoken:
            raise InvalidInputError(
                "a placeholder value cannot be spoken",
                [
                    FieldIssue(
                        f"placeholders.{variable}", "use letters only: what you actually said, e.g. John"
                    )
                ],
            )
        tokens.append(ScriptToken(spoken, variable))
        pos = match.end()
    tokens += [ScriptToken(w) for w in _words(script[pos:])]
    if not any(t.is_slot for t in tokens):
        raise InvalidInputError(
            "the script has no placeholder",
            [
                FieldIssue(
                    "script",
                    "mark where the name goes with {first_name} (or {last_name}, {company}), "
                    "e.g. 'Hi {first_name}, …'",
                )
            ],
        )
    unknown = set(placeholders) - {t.variable for t in tokens if t.variable}
    if unknown:
        raise InvalidInputError(
            "placeholders for variables the script does not use",
            [FieldIssue(f"placeholders.{v}", "not in the script") for v in sorted(unknown)],
        )
    return tokens


def slot_variables(script: str) -> list[str]:
    """The variables a script uses, in order of first use (no validation)."""
    seen: list[str] = []
    for match in _PLACEHOLDER.finditer(script):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen
