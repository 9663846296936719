"""The HTTP API: one Chalice blueprint per resource, registered by ``app.py``.

A route parses its input into a pydantic model, calls one domain function with adapters from
:mod:`chalicelib.dependencies`, and returns a model dump; :mod:`._http` maps domain errors to
HTTP in one place, :mod:`.schemas` holds the models routes share, :mod:`.openapi` the document.

May import: the domain, dependencies, settings, observability, web, chalice, pydantic (and, for
now, one adapter constant in ``watch`` and ``media.audio`` in ``voice``). Never
``chalicelib.tasks`` (contract ``api-tasks-apart``); route modules sit above ``openapi``,
``schemas`` and ``_http``, which import no route (``api-layers``); no voice engine.
"""
