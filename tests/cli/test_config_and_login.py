"""The client's configuration (flags, environment, profiles, FIREWORKS_* variables) and ``modelyard
login``, run as real subprocesses against a real server with a scrubbed environment and a temporary
home (the real home directory is never read or written)."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

from modelyard.client.config import write_profile
from tests.support.accounts import Account
from tests.support.client_cli import as_json, fails, ok, run_cli, seed
from tests.support.server import Server

# -- configuration -----------------------------------------------------------------------------------------


def test_config_precedence(bare_env: dict[str, str], server: Server, account: Account, home: Path) -> None:
    seed(account, "only-model")
    config = Path(bare_env["MODELYARD_CONFIG"])
    bad = {"base_url": "http://127.0.0.1:9", "api_key": "profile-key", "account": "profile-acct"}
    write_profile(config, "default", bad)
    write_profile(
        config, "good", {"base_url": server.base_url, "api_key": account.key, "account": account.id}
    )

    def shown(command: str, **env: str) -> dict[str, tuple[str, str]]:
        out = as_json(run_cli({**bare_env, **env}, f"models {command} -o json"))
        return {k: (out[k]["value"], out[k]["source"]) for k in ("base_url", "api_key", "account")}

    in_default = f"profile 'default' ({config})"
    assert shown("config") == {
        "base_url": ("http://127.0.0.1:9", in_default),
        "api_key": ("***", in_default),
        "account": ("profile-acct", in_default),
    }
    fw = {
        "FIREWORKS_BASE_URL": "http://fw:1",
        "FIREWORKS_API_KEY": "fw-key-0123456789abcdef",
        "FIREWORKS_ACCOUNT_ID": "fw-acct",
    }
    assert shown("config", **fw) == {
        "base_url": ("http://fw:1", "$FIREWORKS_BASE_URL"),
        "api_key": ("fw-key...cdef", "$FIREWORKS_API_KEY"),
        "account": ("fw-acct", "$FIREWORKS_ACCOUNT_ID"),
    }
    mine = {"MODELYARD_BASE_URL": "http://my:2", "MODELYARD_ACCOUNT": "my-acct"}
    assert shown("config", **fw, **mine) == {
        "base_url": ("http://my:2", "$MODELYARD_BASE_URL"),
        "api_key": ("fw-key...cdef", "$FIREWORKS_API_KEY"),
        "account": ("my-acct", "$MODELYARD_ACCOUNT"),
    }
    # flags win, before or after the command name; --profile / MODELYARD_PROFILE select a profile
    assert shown("-a flag-acct config", **fw, **mine)["account"] == ("flag-acct", "--account")
    assert shown("config --profile good", **fw, **mine)["api_key"] == ("fw-key...cdef", "$FIREWORKS_API_KEY")
    assert shown("config", MODELYARD_PROFILE="good")["base_url"] == (
        server.base_url,
        f"profile 'good' ({config})",
    )

    # the same order on real calls: each lower layer holds a bad value under a good one
    names = [f"accounts/{account.id}/models/only-model"]

    def listed(options: str = "", **env: str) -> list[str]:
        out = ok(run_cli({**bare_env, **env}, f"models {options} list -o jsonl --read-mask name"))
        return [json.loads(line)["name"] for line in out.splitlines()]

    good_fw = {
        "FIREWORKS_BASE_URL": server.base_url,
        "FIREWORKS_API_KEY": account.key,
        "FIREWORKS_ACCOUNT_ID": account.id,
    }
    assert listed("-p good") == names  # a profile alone
    assert listed(**good_fw) == names  # FIREWORKS_* over the (bad) default profile
    assert listed(**{**good_fw, "FIREWORKS_API_KEY": "bad", "MODELYARD_API_KEY": account.key}) == names
    result = run_cli({**bare_env, **good_fw}, "models list", MODELYARD_API_KEY="bad")
    assert fails(result, 1).endswith("(API key from $MODELYARD_API_KEY)")  # MODELYARD_* over FIREWORKS_*
    assert listed(f"--api-key {account.key}", **good_fw, MODELYARD_API_KEY="bad") == names  # flag over env
    assert fails(run_cli(bare_env, "models list", MODELYARD_PROFILE="missing"), 2) == (
        f"error: no profile 'missing' in {config} (profiles: default, good); "
        "create it with 'modelyard login --profile missing ...'"
    )
    assert not (home / ".config").exists()  # MODELYARD_CONFIG is honoured: the user config dir is untouched


def test_fireworks_env_vars(bare_env: dict[str, str], server: Server, account: Account) -> None:
    fw = {
        "FIREWORKS_BASE_URL": server.base_url,
        "FIREWORKS_API_KEY": account.key,
        "FIREWORKS_ACCOUNT_ID": account.id,
    }
    ok(run_cli({**bare_env, **fw}, "models create fw-model --display-name 'Via Fireworks vars'"))
    page = as_json(run_cli({**bare_env, **fw}, "models list -o json"))
    assert [m["displayName"] for m in page["models"]] == ["Via Fireworks vars"]
    assert page["totalSize"] == 1


def test_login_writes_private_profile(bare_env: dict[str, str], server: Server, account: Account) -> None:
    seed(account, "after-login")
    config = Path(bare_env["MODELYARD_CONFIG"])
    # a bad key is refused and nothing is written
    result = run_cli(bare_env, f"login --base-url {server.base_url} --api-key bad --account {account.id}")
    assert fails(result, 1) == (
        "error: UNAUTHENTICATED (401): the API key is not valid (API key from --api-key); "
        "nothing saved (--no-verify saves anyway)"
    )
    assert not config.exists()
    result = run_cli(bare_env, f"login --base-url {server.base_url} --api-key {account.key} -a {account.id}")
    ok(result)
    assert result.stderr.startswith(f"saved profile 'default' to {config}")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = tomllib.loads(config.read_text())
    assert saved == {"default": {"base_url": server.base_url, "api_key": account.key, "account": account.id}}
    # later commands use it with no other setting
    got = as_json(run_cli(bare_env, "models get after-login -o json"))
    assert got["name"] == f"accounts/{account.id}/models/after-login"
    # a second, named profile (not verified) goes next to the first
    ok(
        run_cli(
            bare_env, "login --profile staging --base-url http://127.0.0.1:9 --api-key k -a other --no-verify"
        )
    )
    saved = tomllib.loads(config.read_text())
    assert set(saved) == {"default", "staging"} and saved["default"]["api_key"] == account.key
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    result = run_cli(bare_env, "models --profile staging list")
    assert fails(result, 1).startswith("error: cannot reach http://127.0.0.1:9: connection refused")
