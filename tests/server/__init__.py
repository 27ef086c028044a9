"""Tests of the server process: observability, shutdown, sockets, replicas, a lost database."""
