"""Fixtures of the Hub door tests: real ``modelyard serve`` processes on each database with file and S3
storage (the fixtures of ``tests/files``), and models uploaded through the Fireworks flow (so they have a
revision on ``main``)."""

from __future__ import annotations

from tests.files.conftest import _serving, file_storage_server, files_server, s3_server

__all__ = ["_serving", "file_storage_server", "files_server", "s3_server"]
