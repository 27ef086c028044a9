"""Opening the model-file service of a store: its storage (given, or the one the settings name, or the
default beside the database) and, for ``file://`` storage, the URL signer whose secret the database
holds (shared by every replica). Used by the server, ``modelyard storage gc`` and the tests alike."""

from __future__ import annotations

from modelyard.files.service import FileService
from modelyard.settings import Settings
from modelyard.storage import Storage, open_storage, storage_url
from modelyard.storage.local import LocalStorage
from modelyard.storage.signing import UrlSigner
from modelyard.store.repository import Store


def file_service(
    store: Store, storage: Storage | None = None, settings: Settings | None = None
) -> FileService:
    """The file service of ``store``: ``storage``, else the one the settings name, else the default
    beside the database."""
    if storage is None:
        configured = settings.storage_url if settings is not None else ""
        storage = open_storage(storage_url(configured, store.database_url()))
    if isinstance(storage, LocalStorage) and storage.signer is None:
        storage.signer = UrlSigner(store.secret("file_url_key"))
    return FileService(store, store.files, storage, store.revisions, store.oci)
