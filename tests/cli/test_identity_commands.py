"""``modelyard keys create|list|revoke`` (database), ``modelyard users ...`` and ``modelyard audit`` (API),
run as real subprocesses against a real server on both databases."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import Server


def cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    scrubbed = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "FIREWORKS_"))}
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **scrubbed,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "MODELYARD_CONFIG": str(home / "profiles.toml"),
            "NO_COLOR": "1",
            "COLUMNS": "250",
            **env,
        },
    )


def test_keys_create_list_revoke_and_the_audit_trail(server: Server, tmp_path: Path) -> None:
    account = f"ops-{secrets.token_hex(4)}"
    made = cli(
        "keys", "create", "-a", account, "--email", "ops@example.com", "--db", server.db_url, home=tmp_path
    )
    assert made.returncode == 0, made.stderr
    admin_key = made.stdout.strip().splitlines()[-1]
    assert f"Created user accounts/{account}/users/admin with role admin" in made.stderr
    second = cli(
        "keys", "create", "-a", account, "--user", "robot", "--display-name", "ci",
        "--expire-time", "2030-01-01T00:00:00Z", "--db", server.db_url, home=tmp_path,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    robot_key = second.stdout.strip().splitlines()[-1]
    assert "Created user" in second.stderr  # a new user, as admin

    listed = cli("keys", "list", "-a", account, "--db", server.db_url, home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert admin_key not in listed.stdout and robot_key not in listed.stdout  # never the secret
    lines = [line for line in listed.stdout.splitlines() if account in line]
    assert len(lines) == 2
    robot_line = next(line for line in lines if "robot" in line)
    assert "ci" in robot_line and "2030-01-01T00:00:00Z" in robot_line and robot_key[:8] in robot_line
    robot_id = robot_line.split()[0]

    url = f"{server.base_url}/v1/accounts/{account}/models"
    assert httpx.get(url, headers={"Authorization": f"Bearer {robot_key}"}).status_code == 200
    revoked = cli("keys", "revoke", robot_id, "--db", server.db_url, home=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert cli("keys", "revoke", robot_id, "--db", server.db_url, home=tmp_path).returncode == 1

    env = {
        "MODELYARD_BASE_URL": server.base_url,
        "MODELYARD_API_KEY": admin_key,
        "MODELYARD_ACCOUNT": account,
    }
    audit = cli("audit", "-o", "jsonl", home=tmp_path, **env)
    assert audit.returncode == 0, audit.stderr
    trail = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(e["method"], e["principal"].startswith("local")) for e in trail] == [
        ("DeleteApiKey", True),
        ("CreateApiKey", True),
        ("CreateApiKey", True),
    ]
    assert trail[0]["resource"] == f"accounts/{account}/users/robot/apiKeys/{robot_id}"
    table = cli("audit", home=tmp_path, **env)
    assert table.returncode == 0 and "DeleteApiKey" in table.stdout and "3 auditLogs" in table.stdout
    bad = cli("keys", "create", "-a", "Bad_Account", "--db", server.db_url, home=tmp_path)
    assert bad.returncode == 2 and "Bad_Account" in bad.stderr


def test_users_commands_through_the_api(server: Server, tmp_path: Path) -> None:
    account = f"people-{secrets.token_hex(4)}"
    made = cli("keys", "create", "-a", account, "--db", server.db_url, home=tmp_path)
    env = {
        "MODELYARD_BASE_URL": server.base_url,
        "MODELYARD_API_KEY": made.stdout.strip().splitlines()[-1],
        "MODELYARD_ACCOUNT": account,
    }
    created = cli("users", "create", "erin", "--role", "contributor", "--email", "erin@example.com",
                  "-o", "json", home=tmp_path, **env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["role"] == "contributor"
    updated = cli("users", "update", "erin", "--role", "user", "--display-name", "Erin", "-o", "json",
                  home=tmp_path, **env)  # fmt: skip
    assert updated.returncode == 0 and json.loads(updated.stdout)["displayName"] == "Erin"
    listed = cli("users", "list", "--filter", 'role = "user"', "-o", "jsonl", home=tmp_path, **env)
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == [
        f"accounts/{account}/users/erin"
    ]
    table = cli("users", "list", home=tmp_path, **env)
    assert "erin@example.com" in table.stdout and "2 users" in table.stdout
    got = cli("users", "get", "erin", home=tmp_path, **env)
    assert got.returncode == 0 and "erin@example.com" in got.stdout

    key = cli("users", "keys", "create", "erin", "--display-name", "laptop", home=tmp_path, **env)
    assert key.returncode == 0, key.stderr
    erin_key = key.stdout.strip().splitlines()[-1]
    keys = cli("users", "keys", "list", "erin", "-o", "json", home=tmp_path, **env)
    (listed_key,) = json.loads(keys.stdout)["apiKeys"]
    assert listed_key["displayName"] == "laptop" and "key" not in listed_key
    erin = {**env, "MODELYARD_API_KEY": erin_key}
    raise_self = cli("users", "update", "erin", "--role", "admin", home=tmp_path, **erin)
    assert raise_self.returncode == 1 and "PERMISSION_DENIED (403)" in raise_self.stderr
    last = cli("users", "delete", "admin", "--yes", home=tmp_path, **env)
    assert last.returncode == 1 and "last admin" in last.stderr
    assert cli("users", "keys", "delete", "erin", listed_key["keyId"], home=tmp_path, **env).returncode == 0
    assert cli("users", "get", "erin", home=tmp_path, **erin).returncode == 1  # the key is gone
    gone = cli("users", "delete", "erin", "--yes", home=tmp_path, **env)
    assert gone.returncode == 0, gone.stderr
    assert cli("users", "update", "erin", home=tmp_path, **env).returncode == 2  # nothing to change
