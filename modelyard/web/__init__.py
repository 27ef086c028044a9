"""The catalog web pages (``/catalog``): server-rendered HTML from the same store and filter engine as the
API. ``routes.py`` (HTTP), ``query.py`` (URL state -> filter and order), ``facets.py`` (facets and sorts),
``listing.py`` (a list view's page, cursors and counts), ``present.py`` (display values), ``templates/``
and ``static/`` (no build step, nothing from a CDN)."""

from __future__ import annotations

from modelyard.web.routes import install_web

__all__ = ["install_web"]
