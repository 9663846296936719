"""Run ``chalice package`` inside a CDK synth safely and say what went wrong loudly.

Chalice's CDK construct (``chalice.cdk.Chalice``) packages the app in-process at synth time. Three
things about that need care, and live here so the stack reads as resources only:

* **Where the Lambdas' third-party dependencies come from** (:data:`Dependencies`). Chalice's
  default pip-downloads Linux wheels for ``requirements.txt`` (network, minutes on a cold cache),
  and when no Lambda-compatible wheel exists it only *prints* a warning and ships the bundle
  without the package. :func:`missing_requirements` turns that into a synth error.
* **Isolation.** Chalice imports ``app.py`` with the stage's environment variables written into
  ``os.environ`` and the project dir pushed onto ``sys.path``. :func:`isolated_app_import`
  undoes both and drops the freshly imported ``app``/``chalicelib`` modules, so a test session
  (or a second stack in one synth) never sees CDK tokens in its environment.
* **S3 subscriptions.** ``chalice package`` refuses ``@app.on_s3_event`` ("CloudFormation does
  not support modifying the event notifications of existing buckets"). Our bucket is created by
  the same stack, so :func:`captured_s3_subscriptions` records each subscription instead and the
  stack wires it with CDK's own bucket notifications.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias
from unittest import mock

from aws_cdk import aws_s3 as s3
from chalice.package import SAMTemplateGenerator
from chalice.utils import to_cfn_resource_name
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REQUIREMENTS: Literal["requirements"] = "requirements"
APP_ONLY: Literal["app-only"] = "app-only"

Dependencies: TypeAlias = Literal["requirements", "app-only"] | Path
"""Where the Lambda bundle's third-party packages come from.

``"requirements"``
    Chalice resolves ``requirements.txt`` itself (``pip download`` of manylinux wheels for the
    Lambda runtime; needs the network, cached in ``.chalice/deployments`` by content hash).
``Path``
    A prebuilt Linux ``site-packages`` directory, vendored as Chalice's ``vendor/``; no network.
``"app-only"``
    No third-party packages: the template is the real one (it depends on ``app.py`` alone), the
    code bundle is not deployable. For template tests and ``cdk diff``.
"""

# What `chalice package` reads from a project; everything else stays out of the staged copy.
_CHALICE_PROJECT_FILES = ("app.py", "chalicelib", ".chalice/config.json")
_APP_MODULES = re.compile(r"^(app|chalicelib)(\.|$)")

# The Lambda runtime the markers of a pinned requirements file are evaluated for
# (chalice picks the runtime from the synthesizing interpreter's version).
_LAMBDA_MARKER_ENV = {
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


class PackagingError(RuntimeError):
    """The Chalice bundle or its event wiring cannot be deployed as synthesized."""


@dataclass(frozen=True)
class S3Subscription:
    """One ``@app.on_s3_event`` handler, as Chalice modelled it."""

    function_logical_id: str
    bucket: str
    events: tuple[str, ...]
    prefix: str | None
    suffix: str | None


def stage_project(project_dir: Path, dest: Path, vendor_dir: Path | None) -> Path:
    """Copy the files ``chalice package`` reads into ``dest``, without ``requirements.txt``.

    Parameters
    ----------
    project_dir
        The Chalice project (holds ``app.py``, ``chalicelib/`` and ``.chalice/config.json``).
    dest
        An empty or missing directory to stage into.
    vendor_dir
        Prebuilt Linux packages to ship as ``vendor/``; ``None`` ships application code only.

    Returns
    -------
    Path
        ``dest``, ready to be the construct's ``source_dir``.

    Raises
    ------
    PackagingError
        If ``project_dir`` lacks a file Chalice needs or ``vendor_dir`` is not a directory.
    """
    for relative in _CHALICE_PROJECT_FILES:
        source = project_dir / relative
        target = dest / relative
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:
            raise PackagingError(f"{source} is missing; is {project_dir} a Chalice project?")
    if vendor_dir is not None:
        if not vendor_dir.is_dir():
            raise PackagingError(f"prebuilt dependencies {vendor_dir} is not a directory")
        shutil.copytree(vendor_dir, dest / "vendor", symlinks=True)
    return dest


def missing_requirements(requirements_file: Path, bundle: Path, python_version: str) -> list[str]:
    """Pinned requirements that did not make it into a Chalice deployment zip.

    ``chalice package`` only prints "Could not install dependencies" when no wheel fits the
    Lambda runtime (e.g. a wheel built for a newer glibc) and ships the bundle without it.
    Every installed wheel leaves a ``<name>-<version>.dist-info`` directory in the zip, so a
    requirement is present when such a directory matches its name and specifier.

    Parameters
    ----------
    requirements_file
        The project's ``requirements.txt`` (pip syntax; ``--hash`` options and ``-e`` lines are
        ignored, environment markers are evaluated for Lambda on Linux x86_64).
    bundle
        The ``deployment.zip`` Chalice produced.
    python_version
        ``"3.11"``-style version the markers are evaluated against.

    Returns
    -------
    list[str]
        The requirement lines (without markers) that have no matching ``dist-info``.

    Raises
    ------
    PackagingError
        If a line of ``requirements_file`` is not a valid requirement.
    """
    with zipfile.ZipFile(bundle) as archive:
        installed: dict[str, str] = {}
        for name in archive.namelist():
            top = name.split("/", 1)[0]
            if top.endswith(".dist-info"):
                dist, _, dist_version = top.removesuffix(".dist-info").rpartition("-")
                installed[canonicalize_name(dist)] = dist_version

    # Marker.evaluate overrides the synthesizing machine's environment with these keys.
    environment = {
        **_LAMBDA_MARKER_ENV,
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
    }
    missing = []
    for line in _requirement_lines(requirements_file):
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise PackagingError(f"{requirements_file}: cannot parse {line!r}") from exc
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        version = installed.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{requirement.name}{requirement.specifier}")
    return missing


def unresolvable_handlers(sam_template: dict[str, Any]) -> list[str]:
    """Lambda ``Handler`` strings in a Chalice SAM template that do not import.

    Chalice names a handler ``<module>.<function __name__>``; a handler registered by calling a
    decorator without binding the result in ``app.py`` (``app.on_s3_event(...)(fn)``) gets a
    name the module does not have, and Lambda fails every invocation with
    ``Runtime.HandlerNotFound``. Call this while the app's modules are importable.
    """
    broken = []
    for resource in sam_template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        handler = resource["Properties"]["Handler"]
        module_name, _, attribute = handler.rpartition(".")
        if not hasattr(importlib.import_module(module_name), attribute):
            broken.append(handler)
    return sorted(broken)


def _requirement_lines(requirements_file: Path) -> Iterator[str]:
    # Joins backslash continuations (uv/pip-compile put `--hash=` options on them).
    logical = requirements_file.read_text().replace("\\\n", " ")
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        yield re.sub(r"\s--hash[= ]\S+", "", line).strip()


@contextmanager
def isolated_app_import(region: str) -> Iterator[None]:
    """Let Chalice import ``app.py`` without leaking into the synthesizing process.

    Any ``app``/``chalicelib`` modules imported before are set aside (so Chalice imports the app
    fresh, with the stage's environment) and put back afterwards; ``os.environ`` and
    ``sys.path`` are restored. ``region`` is exported as ``AWS_DEFAULT_REGION`` when none is
    set: Chalice needs one to name service principals.
    """
    environ = dict(os.environ)
    path = list(sys.path)
    stashed = {name: module for name, module in sys.modules.items() if _APP_MODULES.match(name)}
    for name in stashed:
        del sys.modules[name]
    if not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
        os.environ["AWS_DEFAULT_REGION"] = region
    try:
        yield
    finally:
        for name in [name for name in sys.modules if _APP_MODULES.match(name)]:
            del sys.modules[name]
        sys.modules.update(stashed)
        sys.path[:] = path
        os.environ.clear()
        os.environ.update(environ)


@contextmanager
def captured_s3_subscriptions() -> Iterator[list[S3Subscription]]:
    """Record ``@app.on_s3_event`` subscriptions instead of letting ``chalice package`` fail.

    The recorded functions are still in the SAM template (Chalice emits the function before its
    subscription); only the notification itself is left to the caller.
    """
    captured: list[S3Subscription] = []

    def record(_generator: Any, resource: Any, _template: dict[str, Any]) -> None:
        captured.append(
            S3Subscription(
                function_logical_id=to_cfn_resource_name(resource.lambda_function.resource_name),
                bucket=resource.bucket,
                events=tuple(resource.events),
                prefix=resource.prefix,
                suffix=resource.suffix,
            )
        )

    with mock.patch.object(SAMTemplateGenerator, "_generate_s3bucketnotification", record):
        yield captured


def s3_event_type(event: str) -> s3.EventType:
    """Map an S3 event name (``s3:ObjectCreated:*``) to CDK's :class:`~aws_cdk.aws_s3.EventType`.

    Raises
    ------
    PackagingError
        If CDK has no such event type.
    """
    parts = [part for part in event.removeprefix("s3:").split(":") if part != "*"]
    member = "_".join(re.sub(r"(?<!^)(?=[A-Z])", "_", part).upper() for part in parts)
    try:
        return s3.EventType[member]
    except KeyError:
        raise PackagingError(f"unknown S3 event {event!r}") from None
