"""``dependencies.reset()`` forgets every cached adapter, found rather than listed by hand."""

from __future__ import annotations

import inspect
import re

from chalicelib import dependencies


def test_every_cached_getter_is_found() -> None:
    source = inspect.getsource(dependencies)
    cached = set(re.findall(r"@lru_cache\([^)]*\)\ndef (\w+)", source))
    assert cached, "the getters are cached with functools.lru_cache"
    assert {fn.__name__ for fn in dependencies.cached_getters()} == cached


def test_reset_clears_them_all(aws: None) -> None:
    dependencies.get_campaign_repo()
    dependencies.get_upload_store()
    assert dependencies.s3_client.cache_info().currsize == 1
    dependencies.reset()
    assert all(fn.cache_info().currsize == 0 for fn in dependencies.cached_getters())
