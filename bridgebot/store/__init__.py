"""The SQLite storage: the only package with SQL; it implements the core's ports."""

from __future__ import annotations

from bridgebot.core.ports import Storage
from bridgebot.store.db import Database, is_failure
from bridgebot.store.facilitation import FacilitationStore
from bridgebot.store.files import FileStore
from bridgebot.store.privacy import PrivacyStore
from bridgebot.store.repo import Store


def sqlite_storage(db: Database, store: Store | None = None) -> Storage:
    """The core's :class:`~bridgebot.core.ports.Storage` over one SQLite database.

    ``store``: the discussion store to use when the caller keeps one (the runtime does,
    for the operator commands); one is made otherwise.
    """
    store = store or Store(db)
    files = FileStore(db)
    return Storage(discussions=store, outbox=store, facilitation=FacilitationStore(db),
                   privacy=PrivacyStore(db, files), unit_of_work=db.unit_of_work,
                   is_failure=is_failure, files=files)
