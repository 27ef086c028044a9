"""Tests of the store on real SQLite and PostgreSQL databases."""
