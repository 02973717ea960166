"""The store: one ClickHouse client abstraction, the schema as numbered migrations, and queries.

``chdb:///path`` opens the embedded engine in-process (one process per data directory,
guarded by a lock file); ``http(s)://user:pass@host:8123/db`` talks to a ClickHouse
server or cluster. All SQL of the project lives in this package, with parameters bound
by the driver.
"""

from tailsight.storage.store import Store, StoreError, StoreLocked, open_store

__all__ = ["Store", "StoreError", "StoreLocked", "open_store"]
