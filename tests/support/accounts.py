"""An account of a running test server: its id, an API key and a client that sends the key."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass
class Account:
    id: str
    key: str
    client: httpx.Client

    def url(self, account: str | None = None) -> str:
        return f"/v1/accounts/{account or self.id}/models"
