"""CSV imports (one item per import, with its row errors)."""

from __future__ import annotations

import logging
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.mapping import ItemMapping
from chalicelib.adapters.dynamodb.models import (
    CsvImportItem,
)
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _split_campaign_pk,
    _storage_error,
    campaign_pk,
    translated,
)
from chalicelib.domain.errors import (
    ConflictError,
)
from chalicelib.domain.models import (
    CsvImport,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- imports & batches


def _import_ids(item: CsvImportItem) -> dict[str, Any]:
    account_id, campaign_id = _split_campaign_pk(item.pk)
    return {
        "account_id": account_id,
        "campaign_id": campaign_id,
        "import_id": item.sk.removeprefix("IMPORT#"),
    }


def _pairs(mapping: dict[str, str] | None) -> list[list[str]] | None:
    return None if mapping is None else [[source, target] for source, target in mapping.items()]


def _mapping(pairs: list[Any] | None) -> dict[str, str] | None:
    return None if pairs is None else {str(source): str(target) for source, target in pairs}


#: The column mappings are stored as [source, target] pairs: a map would lose their order.
IMPORTS: ItemMapping[CsvImport, CsvImportItem] = ItemMapping(
    CsvImport,
    CsvImportItem,
    key=lambda i: (campaign_pk(i.account_id, i.campaign_id), f"IMPORT#{i.import_id}"),
    ids=_import_ids,
    exclude=("mapping", "requested_mapping"),
    to_item_extra=lambda i: {"mapping": _pairs(i.mapping), "requested_mapping": _pairs(i.requested_mapping)},
    from_item_extra=lambda item: {
        "mapping": _mapping(item.mapping) or {},
        "requested_mapping": _mapping(item.requested_mapping),
    },
)


def _import_from_item(item: CsvImportItem) -> CsvImport:
    return IMPORTS.from_item(item)


def _import_to_item(i: CsvImport) -> CsvImportItem:
    return IMPORTS.to_item(i)


@translated
class DynamoCsvImportRepository:
    def add(self, item: CsvImport) -> CsvImport:
        return self.save(item.model_copy(update={"version": 0}))

    def get(self, account_id: str, campaign_id: str, import_id: str) -> CsvImport:
        return _import_from_item(
            _get(
                CsvImportItem,
                campaign_pk(account_id, campaign_id),
                f"IMPORT#{import_id}",
                "import",
                import_id,
            )
        )

    def list(self, account_id: str, campaign_id: str) -> list[CsvImport]:
        query = CsvImportItem.query(
            campaign_pk(account_id, campaign_id),
            CsvImportItem.sk.startswith("IMPORT#"),
            consistent_read=True,
            scan_index_forward=False,
        )
        return [_import_from_item(i) for i in query]

    def save(self, item: CsvImport) -> CsvImport:
        record = _import_to_item(item)
        try:
            record.save()
        except PutError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(f"import {item.import_id!r} was changed concurrently") from exc
            raise _storage_error(exc, "DynamoCsvImportRepository.save") from exc
        return _import_from_item(record)
