"""Tailorcast's deployable code: everything under here ships in the Lambdas.

* ``domain/``: the use cases, models, errors and the ports (Protocols) they talk to. Pure.
* ``adapters/``: the ports implemented on AWS (boto3, PynamoDB), PyAV and Pillow, the speech engines.
* ``api/``: the HTTP routes (Chalice blueprints): parse, call the domain, answer.
* ``tasks/``: one Lambda per Step Functions state or event.
* ``voice/``: the numpy voice engine (align, match, splice) that the voice container image carries.
* ``media/``: the PyAV and Pillow helpers (decode, name card, posters, previews, MP4 download).
* ``web/``: the prospect's watch page (Jinja2 templates and built assets).
* ``dependencies.py`` builds the adapters lazily; ``settings.py`` is the one Settings model;
  ``observability.py`` the logger, tracer and metrics.

Each package's docstring says what it may import; the import-linter contracts in pyproject.toml
check it (``make lint``). Nothing here imports ``devstack``, ``benchmarks``, ``tailorcast_cli`` or
``tests``.
"""
