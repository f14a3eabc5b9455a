"""The engine's handle: one storage backend plus the identity AWS responses carry.

Everything the api layer asks of the engine goes through a ``Database``; it is
deliberately thin (operations live in their own engine modules and take the
database as their first argument) so that cells and caches can wrap it later.
"""

from __future__ import annotations

from cellstore.storage.base import Store


class Database:
    def __init__(
        self,
        store: Store,
        *,
        region: str = "us-east-1",
        account: str = "000000000000",
    ) -> None:
        self.store = store
        self.region = region
        self.account = account

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def close(self) -> None:
        self.store.close()
