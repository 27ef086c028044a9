"""Fixtures of the prepare tests: moto's S3 server and the files servers of ``tests/files``."""

from tests.files.conftest import file_storage_server, files_server, s3_server

__all__ = ["file_storage_server", "files_server", "s3_server"]
