"""The domain: Tailorcast's use cases, models, errors and ports, with no I/O of its own.

Use cases take their ports (:mod:`.ports`: small Protocols) as arguments; ``chalicelib.adapters``
implements them and ``tests/fakes.py`` fakes them. Packages: :mod:`.media` (the media use cases
and the ladder, job, playlist and WAV rules), :mod:`.speech` (speech types and the name,
pronunciation and script rules), :mod:`.prospects_csv` (the CSV import).

May import: the standard library, pydantic, python-ulid, m3u8 and the domain itself. Never
adapters, api, tasks, voice, media, web, dependencies, settings or observability, nor boto3,
botocore, chalice, pynamodb, Powertools, PyAV, Pillow, numpy or scipy (contract ``domain-pure``).
"""
