"""The layering written in pyproject.toml's ``[tool.importlinter]`` holds, and it bites.

``lint-imports`` runs in a subprocess (as ``make lint`` runs it), without its cache so no file is
left in the tree. A sandbox package then gets the domain's own contract, rewritten to its names,
and a domain module that imports boto3: the same contract must fail there. Last, the domain is
imported for real, to show that what import-linter lets through as type-only (numpy in
``domain.speech``) really stays out at run time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
#: What the domain must never load, even indirectly (the AWS SDK, the web framework, the engines).
HEAVY = ("boto3", "botocore", "chalice", "pynamodb", "aws_lambda_powertools", "av", "PIL", "numpy", "scipy")


def _lint(cwd: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_the_project_keeps_every_import_contract() -> None:
    # WHEN the contracts in pyproject.toml are checked against the tree
    result = _lint(ROOT)

    # THEN every one is kept
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_domain_contract_forbids_the_sdk_adapters_and_engines() -> None:
    contract = _contracts()["domain-pure"]
    assert contract["source_modules"] == ["chalicelib.domain"]
    for name in ("chalicelib.adapters", "chalicelib.voice", "chalicelib.media", *HEAVY):
        assert name in contract["forbidden_modules"]


def test_a_domain_module_importing_boto3_breaks_the_contract(tmp_path: Path) -> None:
    # GIVEN a sandbox laid out like chalicelib, checked by the domain's own contract
    contract = _contracts()["domain-pure"]
    forbidden = [name.replace("chalicelib.", "sandbox.", 1) for name in contract["forbidden_modules"]]
    sandbox = tmp_path / "sandbox"
    for package in ["sandbox", "sandbox.domain", *(n for n in forbidden if n.startswith("sandbox."))]:
        folder = tmp_path.joinpath(*package.split("."))
        folder.mkdir()
        (folder / "__init__.py").write_text('"""sandbox"""\n')
    (sandbox / "domain" / "models.py").write_text("import dataclasses\n")
    (sandbox / "adapters" / "s3.py").write_text("import boto3\n")
    listed = ", ".join(f'"{name}"' for name in forbidden)
    (tmp_path / "contracts.toml").write_text(
        textwrap.dedent(
            f"""
            [tool.importlinter]
            root_packages = ["sandbox"]
            include_external_packages = true

            [[tool.importlinter.contracts]]
            id = "{contract["id"]}"
            name = "{contract["name"]}"
            type = "{contract["type"]}"
            source_modules = ["sandbox.domain"]
            forbidden_modules = [{listed}]
            """
        )
    )
    clean = _lint(tmp_path, "--config", "contracts.toml", pythonpath=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    # WHEN a domain module imports boto3, and another reaches an adapter
    (sandbox / "domain" / "uploads.py").write_text("import boto3\n")
    (sandbox / "domain" / "render.py").write_text("from sandbox.adapters import s3\n")
    broken = _lint(tmp_path, "--config", "contracts.toml", pythonpath=tmp_path)

    # THEN the contract is broken, naming both imports
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "sandbox.domain.uploads -> boto3" in broken.stdout
    assert "sandbox.domain.render -> sandbox.adapters" in broken.stdout


def test_importing_the_whole_domain_loads_no_sdk_engine_or_codec() -> None:
    # The type-only numpy import that the contract ignores must stay type-only.
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        import chalicelib.domain as domain
        for found in pkgutil.walk_packages(domain.__path__, "chalicelib.domain."):
            importlib.import_module(found.name)
        print(",".join(n for n in {HEAVY!r} if n in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
