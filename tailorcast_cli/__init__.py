"""The ``tailorcast`` command line: its commands (``main``), the typed API client (``client``), the
terminal views (``progress``, ``importview``, ``viewer``), sample media (``samples``) and the demo.

Imports: it talks to the API over HTTP, and may import chalicelib's schemas and models (the API's
own pydantic types) and, for the commands that run the stack in-process (``up``, ``demo``,
``account create``), devstack. chalicelib never imports it.
"""
