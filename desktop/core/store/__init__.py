"""The indexed local store (the Inbox): files on disk, a SQLite index, C-FIND matching."""

from desktop.core.store.store import ReindexReport, Store, StoreError

__all__ = ["ReindexReport", "Store", "StoreError"]
