"""A client for the Models API of modelyard (or Fireworks): :class:`ModelyardClient` and the
``modelyard models`` command line."""

from __future__ import annotations

from modelyard.client.http import ApiConnectionError, ApiError, ModelyardClient

__all__ = ["ApiConnectionError", "ApiError", "ModelyardClient"]
