"""Tests of the ``modelyard`` client commands, run as real subprocesses."""
