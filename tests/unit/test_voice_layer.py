"""The voice image's files agree with the project: its pins, its code, its handler.

``make check-requirements`` proves ``layers/voice/requirements.txt`` is what uv exports today; these
tests prove that export is the right one (the voice group and the app's runtime, not the Chalice
app's zip), and that the Dockerfile ships and starts what exists.
"""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
VOICE = ROOT / "layers" / "voice"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(path: Path) -> dict[str, str]:
    """Name → pinned version of a ``name==version`` requirements file (markers ignored)."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {raw!r} is not pinned"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _instructions(name: str) -> list[str]:
    """The arguments of each ``name`` instruction of the Dockerfile (continuations joined)."""
    text = (VOICE / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        line.split(None, 1)[1]
        for line in text.splitlines()
        if line.strip() and line.split(None, 1)[0].upper() == name
    ]


def test_voice_requirements_pin_the_voice_group_and_the_app_runtime() -> None:
    pins = _pins(VOICE / "requirements.txt")
    wanted = [Requirement(r) for r in PYPROJECT["dependency-groups"]["voice"]]
    wanted += [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]

    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name == "chalice":  # its runtime module is copied in by the Dockerfile
            assert name not in pins
            continue
        assert name in pins, requirement
        assert requirement.specifier.contains(pins[name], prereleases=True), (requirement, pins[name])


def test_the_chalice_app_requirements_carry_no_voice_package() -> None:
    # The voice engines are over the zip limit: the Chalice functions' bundle must not get them.
    app_pins = _pins(ROOT / "requirements.txt")
    runtime = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    voice_only = {
        canonicalize_name(Requirement(r).name) for r in PYPROJECT["dependency-groups"]["voice"]
    } - runtime

    assert voice_only
    assert voice_only.isdisjoint(app_pins), sorted(voice_only & app_pins.keys())


def test_dockerfile_starts_the_voice_handler() -> None:
    [cmd] = _instructions("CMD")
    [entrypoint] = _instructions("ENTRYPOINT")

    assert cmd == '["chalicelib.tasks.voice.handler"]'
    assert "awslambdaric" in entrypoint
    module_name, _, attribute = "chalicelib.tasks.voice.handler".rpartition(".")
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_dockerfile_copies_files_that_exist_and_the_locked_chalice_runtime() -> None:
    sources = []
    for arguments in _instructions("COPY"):
        words = [w for w in shlex.split(arguments) if not w.startswith("--")]
        if not arguments.startswith("--from"):
            sources += words[:-1]
    assert "chalicelib" in sources
    for source in sources:
        assert (ROOT / source).exists(), source

    locked = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    [version] = re.findall(r"^ARG CHALICE_VERSION=(\S+)$", (VOICE / "Dockerfile").read_text(), re.M)
    assert version == locked["chalice"]


def test_runtime_client_pins_are_exact() -> None:
    assert "awslambdaric" in _pins(VOICE / "runtime-client.txt")
