"""Tests of the HTTP API against a real ``modelyard serve`` (SQLite and PostgreSQL)."""
