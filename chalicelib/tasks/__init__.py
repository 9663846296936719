"""Lambda tasks: one function per Step Functions state, EventBridge rule or S3 event.

Each parses its event into a pydantic model, calls one domain function with adapters from
:mod:`chalicelib.dependencies` and returns a small dict; domain errors raise through so the state
machine can retry or catch them by name.

May import: the domain, dependencies, settings, observability, chalice, pydantic; ``voice`` only
from the voice Lambda (``tasks/voice.py``). Never ``chalicelib.api`` (``api-tasks-apart``; one
known exception is listed there), and never another task module (``tasks-independent``).
"""
