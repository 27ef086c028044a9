"""The Hugging Face Hub door: the Hub's HTTP protocol under ``/hf``, so huggingface_hub, ``hf``,
transformers and the serving engines that download through huggingface_hub (vLLM, SGLang, TGI) use the
registry with ``HF_ENDPOINT=http://HOST:PORT/hf`` and ``HF_TOKEN=<modelyard API key>``.

The door only translates: repo ids (``names.py``), the caller (``identity.py``, the one adapter to the
access rules), Hub-shaped answers and errors (``repos.py``, ``errors.py``, ``card.py``); models, files,
revisions and visibility are the store's. The endpoints are listed in ``download.py`` and
``listing.py`` (``list_models``). ``routes()`` is
what the application mounts (``app.mount("/hf", hub.routes())``).
"""

from __future__ import annotations

from starlette.routing import Route, Router

from modelyard.hub import download, listing

_REPO = "/{namespace}/{name}"


def routes() -> Router:
    """The Hub's routes, to mount under ``/hf``."""
    return Router(
        routes=[
            Route("/api/whoami-v2", download.whoami, methods=["GET"]),
            Route("/api/models", listing.list_models, methods=["GET"]),
            Route(f"/api/models{_REPO}", download.model_info, methods=["GET"]),
            Route(f"/api/models{_REPO}/revision/{{rest:path}}", download.model_info, methods=["GET"]),
            Route(f"/api/models{_REPO}/tree/{{rest:path}}", download.list_tree, methods=["GET"]),
            Route(f"/api/models{_REPO}/paths-info/{{rest:path}}", download.paths_info, methods=["POST"]),
            Route(f"/api/models{_REPO}/refs", download.list_refs, methods=["GET"]),
            Route(f"/api/models{_REPO}/commits/{{rest:path}}", download.list_commits, methods=["GET"]),
            Route(f"{_REPO}/resolve/{{rest:path}}", download.resolve_file, methods=["GET", "HEAD"]),
        ]
    )


__all__ = ["routes"]
