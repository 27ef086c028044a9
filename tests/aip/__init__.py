"""Tests of the framework- and database-free rules: the filter language and the resource codec."""
