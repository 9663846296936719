"""The account's pronunciation lexicon."""

from __future__ import annotations

import logging

from chalicelib.adapters.dynamodb.mapping import ItemMapping
from chalicelib.adapters.dynamodb.models import (
    PronunciationItem,
)
from chalicelib.adapters.dynamodb.repositories._common import _get, account_pk, translated
from chalicelib.domain.models import (
    PronunciationEntry,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- pronunciation lexicon


LEXICON: ItemMapping[PronunciationEntry, PronunciationItem] = ItemMapping(
    PronunciationEntry,
    PronunciationItem,
    key=lambda e: (account_pk(e.account_id), f"LEXICON#{e.key}"),
    ids=lambda item: {
        "account_id": item.pk.removeprefix("ACCOUNT#"),
        "key": item.sk.removeprefix("LEXICON#"),
    },
)


def _entry_from_item(item: PronunciationItem) -> PronunciationEntry:
    return LEXICON.from_item(item)


@translated
class DynamoLexiconRepository:
    """An account's pronunciation lexicon, in the account's own partition."""

    def put(self, entry: PronunciationEntry) -> PronunciationEntry:
        item = LEXICON.to_item(entry)
        item.save()
        return _entry_from_item(item)

    def get(self, account_id: str, key: str) -> PronunciationEntry:
        return _entry_from_item(
            _get(PronunciationItem, account_pk(account_id), f"LEXICON#{key}", "pronunciation", key)
        )

    def list(self, account_id: str) -> list[PronunciationEntry]:
        query = PronunciationItem.query(
            account_pk(account_id), PronunciationItem.sk.startswith("LEXICON#"), consistent_read=True
        )
        return [_entry_from_item(i) for i in query]

    def delete(self, account_id: str, key: str) -> None:
        self.get(account_id, key)  # NotFoundError for a name that is not there
        PronunciationItem(account_pk(account_id), f"LEXICON#{key}").delete()
