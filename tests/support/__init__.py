"""Helpers shared by the test modules (servers, accounts, databases, builders, assertions).

Fixtures live in ``conftest.py`` files (pytest's way); everything here is plain functions, classes and
data, imported as ``from tests.support.<module> import ...``.
"""
