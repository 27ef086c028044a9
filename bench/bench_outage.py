"""How List and Get behave through PostgreSQL outages (issue 15, item 4), in seconds per request.

Starts ``modelyard serve`` on a fresh PostgreSQL database (created and dropped here), then:

1. terminates every server connection (``pg_terminate_backend``, as a restart does): the next List / Get;
2. makes PostgreSQL refuse connections (``ALLOW_CONNECTIONS false`` plus termination): 4 Lists, 2 Gets;
3. lets it accept connections again: the next 5 Lists.

Prints status and seconds of each request (the tests assert the outcomes; this holds the timings).

    .venv/bin/python bench/bench_outage.py
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store

ADMIN = os.environ.get("MODELYARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin(sql: str, *params: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql, params or None)


def terminate(name: str) -> None:
    admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        name,
    )


def timed(client: httpx.Client, label: str, path: str) -> None:
    started = time.perf_counter()
    status = client.get(path).status_code
    print(f"  {label:<28} {status}  {time.perf_counter() - started:7.3f} s")


def main() -> None:
    name = f"modelyard_bench_outage_{secrets.token_hex(4)}"
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    admin(f'CREATE DATABASE "{name}"')
    proc = None
    try:
        store = Store(make_engine(url))
        upgrade(store.engine)
        key = store.create_api_key("bench")
        store.engine.dispose()
        log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelyard.cli",
                "serve",
                "--db",
                url,
                "--port",
                "0",
                "--log-level",
                "error",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = None
        while base is None:
            time.sleep(0.2)
            found = re.search(r"listening on (http://\S+)", Path(log.name).read_text())
            base = found.group(1) if found else None
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        model = {"kind": "HF_BASE_MODEL", "baseModelDetails": {"parameterCount": "8000000000"}}
        created = client.post("/v1/accounts/bench/models", json={"modelId": "m1", "model": model})
        assert created.status_code == 200, created.text
        for _ in range(3):
            client.get("/v1/accounts/bench/models")
            client.get("/v1/accounts/bench/models/m1")
        print("1. connections terminated")
        terminate(name)
        timed(client, "first List", "/v1/accounts/bench/models")
        timed(client, "first Get", "/v1/accounts/bench/models/m1")
        print("2. connections refused")
        admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        terminate(name)
        for i in range(4):
            timed(client, f"List {i + 1}", "/v1/accounts/bench/models")
        for i in range(2):
            timed(client, f"Get {i + 1}", "/v1/accounts/bench/models/m1")
        print("3. connections accepted again")
        admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        for i in range(5):
            timed(client, f"List {i + 1}", "/v1/accounts/bench/models")
        client.close()
    finally:
        if proc is not None:
            os.killpg(proc.pid, 9)
            proc.wait()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
