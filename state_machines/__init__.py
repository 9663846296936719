"""ASL definitions (JSONPath) with ``${Placeholders}``.

CDK and the local stack both load definitions through :func:`load_definition`, so one file
drives both worlds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DEFINITIONS_DIR = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")


class MissingPlaceholderError(KeyError):
    """A definition names a ``${Placeholder}`` that no substitution was given for."""


def placeholders(text: str) -> set[str]:
    """Names of every ``${Placeholder}`` in an ASL text."""
    return set(_PLACEHOLDER.findall(text))


def substitute(text: str, substitutions: dict[str, str]) -> str:
    """Replace every ``${Name}``; a name without a substitution is an error, never left raw."""
    missing = placeholders(text) - substitutions.keys()
    if missing:
        raise MissingPlaceholderError(f"no substitution for {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)


def definition_files(directory: Path = DEFINITIONS_DIR) -> dict[str, Path]:
    """State machine name → file, for every ``*.asl.json`` in ``directory``."""
    return {p.name.removesuffix(".asl.json"): p for p in sorted(directory.glob("*.asl.json"))}


def load_definition(path: Path, substitutions: dict[str, str]) -> dict[str, Any]:
    """Read an ASL file, substitute its placeholders and parse it."""
    loaded: dict[str, Any] = json.loads(substitute(path.read_text(), substitutions))
    return loaded


def function_placeholder(function_name: str) -> str:
    """The placeholder naming a task Lambda: ``load_campaign`` → ``LoadCampaignFunctionArn``."""
    return "".join(part.capitalize() for part in function_name.split("_")) + "FunctionArn"
