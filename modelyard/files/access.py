"""Who may do what with model files: one small function per verb (decisions.md, "Access"), so roles
can be plugged in here. A caller is the account of its API key."""

from __future__ import annotations

from modelyard.files.errors import FileError


def _name(account_id: str, model_id: str) -> str:
    return f"accounts/{account_id}/models/{model_id}"


def not_found(account_id: str, model_id: str) -> FileError:
    name = _name(account_id, model_id)
    return FileError(
        "NOT_FOUND", f"model {name} not found", reason="MODEL_NOT_FOUND", metadata={"name": name}
    )


def _write(caller: str, account_id: str) -> None:
    if caller != account_id:
        raise FileError(
            "PERMISSION_DENIED",
            f"the API key of account {caller!r} cannot write to account {account_id!r}",
            reason="PERMISSION_DENIED",
            metadata={"account": account_id},
        )


def check_upload(caller: str, account_id: str) -> None:
    """``:getUploadEndpoint``: the owner's write permission."""
    _write(caller, account_id)


def check_validate(caller: str, account_id: str) -> None:
    """``:validateUpload``: the owner's write permission (it changes the model)."""
    _write(caller, account_id)


def check_read(caller: str, account_id: str, model_id: str, public: bool) -> None:
    """``:getDownloadEndpoint`` and reading a base model: own models and public ones; others' private
    models are NOT_FOUND (their existence is not revealed)."""
    if caller != account_id and not public:
        raise not_found(account_id, model_id)
