"""``modelyard models ...`` and ``modelyard login``, run as real subprocesses against a real server.

Every CLI call is ``python -m modelyard.cli`` with a scrubbed environment: no MODELYARD_* / FIREWORKS_*
variables from the outside, HOME and XDG_CONFIG_HOME in a temporary directory and MODELYARD_CONFIG
pointing there, so the real home directory is never read or written. Commands are written as shell
lines (split with shlex) so they read like the README's examples.
"""

from __future__ import annotations

import json
import os
import pty
import shlex
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.client.cli import human_count, parse_count
from modelyard.client.config import dump_profiles, resolve, write_profile
from modelyard.client.http import ApiConnectionError, ApiError, ModelyardClient
from tests.conftest import Account, Server

CONNECTION_VARS = (
    "MODELYARD_BASE_URL",
    "MODELYARD_API_KEY",
    "MODELYARD_ACCOUNT",
    "MODELYARD_PROFILE",
    "MODELYARD_CONFIG",
    "FIREWORKS_BASE_URL",
    "FIREWORKS_API_KEY",
    "FIREWORKS_ACCOUNT_ID",
)

Result = subprocess.CompletedProcess[str]
Cli = Callable[..., Result]


def run_cli(
    environ: Mapping[str, str],
    command: str,
    *,
    input: str | None = None,
    stdin: int | None = None,
    **env: str | None,
) -> Result:
    """``python -m modelyard.cli COMMAND`` with ``environ`` plus ``env`` (None removes a variable). Without
    ``input`` or ``stdin`` (a file descriptor), stdin is /dev/null (not a terminal)."""
    full = dict(environ)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *shlex.split(command)],
        env=full,
        input=input,
        stdin=stdin if stdin is not None else None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    d = tmp_path / "home"
    d.mkdir()
    return d


@pytest.fixture()
def bare_env(home: Path) -> dict[str, str]:
    """The test process's environment without any connection setting, and with a temporary home."""
    environ = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARS}
    environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        MODELYARD_CONFIG=str(home / "profiles.toml"),
        COLUMNS="250",
    )
    return environ


@pytest.fixture()
def cli(bare_env: dict[str, str], server: Server, account: Account) -> Cli:
    """``modelyard COMMAND`` with MODELYARD_BASE_URL, MODELYARD_API_KEY and MODELYARD_ACCOUNT set."""
    environ = {
        **bare_env,
        "MODELYARD_BASE_URL": server.base_url,
        "MODELYARD_API_KEY": account.key,
        "MODELYARD_ACCOUNT": account.id,
    }

    def run(command: str, *, input: str | None = None, stdin: int | None = None, **env: str | None) -> Result:
        return run_cli(environ, command, input=input, stdin=stdin, **env)

    return run


def ok(result: Result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nout: {result.stdout}\nerr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(result: Result, code: int) -> str:
    """The single ``error: ...`` line of a failed run."""
    assert result.returncode == code, f"exit {result.returncode}\nout: {result.stdout}\nerr: {result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def on_terminal(cli: Cli, command: str, *, answer: str) -> Result:
    """Run with a pseudo-terminal as stdin, typing ``answer``."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode() + b"\n")
        return cli(command, stdin=slave)
    finally:
        os.close(master)
        os.close(slave)


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def seed(account: Account, model_id: str, **fields: Any) -> None:
    model = {"kind": "HF_BASE_MODEL", "baseModelDetails": {"parameterCount": "8030000000"}, **fields}
    r = account.client.post(account.url(), json={"modelId": model_id, "model": model})
    assert r.status_code == 200, r.text


# -- create / get / update / delete ----------------------------------------------------------------------


def test_create_get_update_delete(cli: Cli, account: Account) -> None:
    created = as_json(
        cli(
            "models create llama-8b --display-name 'Llama 8B' --description 'a test model' "
            "--parameter-count 8.03B --moe --model-type llama --context-length 131072 --public "
            "--supports-tools --no-supports-image-input "
            "--hugging-face-url https://huggingface.co/meta-llama/Llama-3.1-8B "
            "--github-url https://github.com/meta-llama/llama3 -o json"
        )
    )
    name = f"accounts/{account.id}/models/llama-8b"
    assert created["name"] == name
    assert created["kind"] == "HF_BASE_MODEL"
    assert created["baseModelDetails"] == {"parameterCount": "8030000000", "moe": True, "modelType": "llama"}
    assert created["contextLength"] == 131072
    assert created["public"] is True and created["supportsTools"] is True
    assert "supportsImageInput" not in created  # false is the default, omitted

    # get by id (json) and by full name (table)
    assert as_json(cli("models get llama-8b -o json")) == created
    table = ok(cli(f"models get {name} --read-mask name,display_name,base_model_details.parameter_count"))
    rows = dict(line.strip().split(None, 1) for line in table.strip().splitlines())
    assert rows == {
        "name": name,
        "displayName": "Llama 8B",
        "baseModelDetails.parameterCount": "8030000000 (8.0B)",
    }

    # update with flags: only the fields given change
    result = cli("models update llama-8b --display-name 'Llama 3.1 8B' --no-public -o json")
    updated = json.loads(ok(result))
    assert result.stderr.strip() == f"updated {name}"
    assert updated["displayName"] == "Llama 3.1 8B"
    assert "public" not in updated
    assert updated["description"] == "a test model" and updated["contextLength"] == 131072
    # a nested flag changes that subfield only
    updated = as_json(cli(f"models update {name} --parameter-count 8B -o json"))
    assert updated["baseModelDetails"] == {"parameterCount": "8000000000", "moe": True, "modelType": "llama"}
    # --update-mask: masked fields missing from the body are cleared
    updated = as_json(
        cli("models update llama-8b --context-length 4096 --update-mask description,context_length -o json")
    )
    assert "description" not in updated and updated["contextLength"] == 4096
    assert updated["displayName"] == "Llama 3.1 8B"
    assert fails(cli("models update llama-8b"), 2) == (
        "error: nothing to update: give field flags (see --help), --from-json or --update-mask"
    )

    # delete: refused without --yes when stdin is not a terminal, then done with --yes
    line = fails(cli("models delete llama-8b"), 2)
    assert line == f"error: not deleting {name}: stdin is not a terminal, so pass --yes to confirm"
    # on a terminal it asks; "n" keeps the model
    result = on_terminal(cli, "models delete llama-8b", answer="n")
    assert result.returncode == 1 and f"Delete model {name}? [y/N]" in result.stdout
    assert result.stderr == "not deleted\n"
    assert ok(cli("models delete llama-8b --yes")) == f"deleted {name}\n"
    assert fails(cli("models get llama-8b"), 1) == f"error: NOT_FOUND (404): model {name} not found"


def test_create_peft_addon_and_from_json(cli: Cli, account: Account, tmp_path: Path) -> None:
    lora = as_json(
        cli(
            "models create my-lora --base-model accounts/fireworks/models/qwen3-8b --lora-rank 16 "
            "--target-modules q_proj,v_proj --target-modules o_proj "
            "--default-draft-model accounts/fireworks/models/qwen3-0p6b --default-draft-token-count 4 -o json"
        )
    )
    assert lora["kind"] == "HF_PEFT_ADDON"
    assert lora["peftDetails"] == {
        "baseModel": "accounts/fireworks/models/qwen3-8b",
        "r": 16,
        "targetModules": ["q_proj", "v_proj", "o_proj"],
    }
    assert lora["defaultDraftTokenCount"] == 4
    # --lora-rank alone keeps the other peftDetails fields
    updated = as_json(cli("models update my-lora --lora-rank 32 -o json"))
    assert updated["peftDetails"]["r"] == 32
    assert updated["peftDetails"]["targetModules"] == ["q_proj", "v_proj", "o_proj"]

    # --from-json FILE holding a Model (snake_case accepted); flags override it
    spec = tmp_path / "model.json"
    spec.write_text(
        json.dumps(
            {
                "display_name": "From File",
                "kind": "HF_BASE_MODEL",
                "base_model_details": {"parameter_count": "7000000000", "model_type": "mistral"},
                "context_length": 32768,
            }
        )
    )
    from_file = as_json(
        cli(
            f"models create from-file --from-json {spec} --context-length 8192 --parameter-count 7.2B -o json"
        )
    )
    assert from_file["displayName"] == "From File"
    assert from_file["contextLength"] == 8192
    assert from_file["baseModelDetails"] == {"parameterCount": "7200000000", "modelType": "mistral"}

    # get -o json | create --from-json - : a copy (the server ignores output-only fields)
    copy = as_json(
        cli("models create copy --from-json - --display-name Copy -o json", input=json.dumps(from_file))
    )
    assert copy["name"] == f"accounts/{account.id}/models/copy"
    assert copy["displayName"] == "Copy" and copy["baseModelDetails"] == from_file["baseModelDetails"]

    # update --from-json -
    patch = '{"description": "patched", "supportsImageInput": true}'
    updated = as_json(cli("models update copy --from-json - -o json", input=patch))
    assert updated["description"] == "patched" and updated["supportsImageInput"] is True
    assert updated["displayName"] == "Copy"

    # an existing id, a bad id and bad JSON
    assert fails(cli("models create copy"), 1) == (
        f"error: ALREADY_EXISTS (409): model accounts/{account.id}/models/copy already exists"
    )
    assert fails(cli("models create Bad_Id"), 1).startswith("error: INVALID_ARGUMENT (400): ")
    assert fails(cli("models create x --from-json -", input="{not json"), 2).startswith(
        "error: --from-json: stdin is not valid JSON"
    )


# -- list --------------------------------------------------------------------------------------------------


def test_list_outputs_paging_filter_order_mask(cli: Cli, account: Account) -> None:
    ids = ["m-alpha", "m-bravo", "m-charlie", "m-delta", "m-echo"]
    for i, model_id in enumerate(ids):
        seed(
            account,
            model_id,
            displayName=f"Model {model_id[2:]}",
            contextLength=4096 * (i + 1),
            public=i % 2 == 0,
        )
    prefix = f"accounts/{account.id}/models/"

    # table: one page of 2; the footer says 2 of 5 and shows the next token
    lines = [line.rstrip() for line in ok(cli("models list --page-size 2")).splitlines()]
    header = ["ID", "DISPLAY", "NAME", "KIND", "STATE", "PARAMS", "CONTEXT", "PUBLIC", "SERVERLESS"]
    assert lines[0].split() == header
    assert lines[2].split() == [
        "m-alpha",
        "Model",
        "alpha",
        "HF_BASE_MODEL",
        "UPLOADING",
        "8.0B",
        "4096",
        "yes",
    ]
    assert lines[3].split()[0] == "m-bravo"
    assert lines[-2] == "2 of 5 models"
    assert lines[-1].startswith("more: --page-token ")
    token = lines[-1].split()[2]

    # json: the raw page (continuing from the table's token)
    page = as_json(cli(f"models list --page-size 2 --page-token {token} -o json"))
    assert [m["name"] for m in page["models"]] == [prefix + "m-charlie", prefix + "m-delta"]
    assert page["totalSize"] == 5 and page["nextPageToken"]

    # --all walks every page (3 pages of 2): a JSON array, JSON Lines, a table
    everything = as_json(cli("models list --all --page-size 2 -o json"))
    assert [m["name"] for m in everything] == [prefix + i for i in ids]
    jsonl = ok(cli("models list --all --page-size 2 -o jsonl --read-mask name"))
    assert [json.loads(line) for line in jsonl.splitlines()] == [{"name": prefix + i} for i in ids]
    table = ok(cli("models list --all --page-size 2")).splitlines()
    assert [line.split()[0] for line in table[2:7]] == ids
    assert table[-1] == "5 models"

    # --filter, --order-by and --read-mask together
    page = as_json(
        cli(
            "models list --filter 'public = true AND context_length > 4096' --order-by 'context_length desc' "
            "--read-mask name,contextLength -o json"
        )
    )
    assert page["models"] == [
        {"name": prefix + "m-echo", "contextLength": 20480},
        {"name": prefix + "m-charlie", "contextLength": 12288},
    ]
    assert page["totalSize"] == 2 and "nextPageToken" not in page
    lines = ok(cli("models list --filter public=true -o jsonl")).splitlines()
    assert [json.loads(line)["name"] for line in lines] == [
        prefix + i for i in ("m-alpha", "m-charlie", "m-echo")
    ]
    assert fails(cli("models list --order-by no_such_field"), 1).startswith("error: INVALID_ARGUMENT (400): ")


# -- errors --------------------------------------------------------------------------------------------------


def test_error_lines(cli: Cli, account: Account) -> None:
    name = f"accounts/{account.id}/models/nope"
    assert fails(cli("models get nope"), 1) == f"error: NOT_FOUND (404): model {name} not found"
    line = fails(cli("models list --filter 'context_length >' -o json"), 1)
    assert line.startswith("error: INVALID_ARGUMENT (400): filter: ")
    assert fails(cli("models list --api-key my_not_a_key"), 1) == (
        "error: UNAUTHENTICATED (401): the API key is not valid (API key from --api-key)"
    )
    assert fails(cli("models list", MODELYARD_API_KEY="bad"), 1) == (
        "error: UNAUTHENTICATED (401): the API key is not valid (API key from $MODELYARD_API_KEY)"
    )
    assert fails(cli("models list --base-url http://127.0.0.1:9"), 1) == (
        "error: cannot reach http://127.0.0.1:9: connection refused (base URL from --base-url)"
    )
    assert fails(cli("models get a/b"), 2) == (
        "error: invalid model 'a/b': expected MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID"
    )
    assert fails(cli("models create x --kind nonsense"), 2).startswith(
        "error: --kind: unknown kind 'nonsense'"
    )
    assert fails(cli("models list", MODELYARD_API_KEY=None), 2) == (
        "error: no API key: pass --api-key, set MODELYARD_API_KEY (or FIREWORKS_API_KEY), "
        "or run 'modelyard login'"
    )
    assert fails(cli("models get x", MODELYARD_ACCOUNT=None), 2) == (
        "error: no account: pass --account/-a, set MODELYARD_ACCOUNT (or FIREWORKS_ACCOUNT_ID), "
        "or run 'modelyard login'"
    )
    assert fails(cli("models list --base-url localhost:8765"), 2) == (
        "error: invalid base URL 'localhost:8765' (from --base-url): expected http(s)://HOST[:PORT][/PREFIX]"
    )


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


# -- in-process units (no server) -------------------------------------------------------------------------


def test_counts() -> None:
    counts = ("8030000000", "70553706496", "671026419200", "1000000000000", "350000000", "999", None)
    assert [human_count(v) for v in counts] == ["8.0B", "70.6B", "671B", "1.0T", "350M", "999", ""]
    assert [parse_count(v) for v in ("8B", "8.03b", "70.6B", "350M", "1_000", "1.5T", "12")] == [
        "8000000000",
        "8030000000",
        "70600000000",
        "350000000",
        "1000",
        "1500000000000",
        "12",
    ]


def test_profile_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "profiles.toml"
    tricky = 'a "quoted" \\ back\tslash\nand\x01control é'
    write_profile(path, "we.ird name", {"api_key": tricky, "account": "a"})
    write_profile(path, "default", {"api_key": "k"})
    assert tomllib.loads(path.read_text()) == {
        "we.ird name": {"api_key": tricky, "account": "a"},
        "default": {"api_key": "k"},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dumped = dump_profiles({"p": {"n": 1, "b": True, "nested": {"x": 1}}})
    assert tomllib.loads(dumped) == {"p": {"n": 1, "b": True}}
    env = {"MODELYARD_CONFIG": str(path), "MODELYARD_PROFILE": "we.ird name", "FIREWORKS_ACCOUNT_ID": "fw"}
    settings = resolve(env=env)
    assert settings.api_key.value == tricky and settings.account.value == "fw"
    assert (settings.base_url.value, settings.base_url.source) == (
        "http://127.0.0.1:8765",
        "built-in default",
    )


def test_http_client_errors_and_paging_guard() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path.endswith("/models/missing"):
            return httpx.Response(404, json={"code": 5, "message": "model x not found", "details": []})
        if request.url.path.endswith("/models/html"):
            return httpx.Response(502, text="<html><body>Bad   gateway</body></html>")
        # a broken server that hands out the same token forever
        page = {"models": [{"name": f"m{len(calls)}"}], "nextPageToken": "same", "totalSize": 99}
        return httpx.Response(200, json=page)

    with ModelyardClient("http://test/prefix", "k", transport=httpx.MockTransport(handler)) as client:
        assert [m["name"] for m in client.iter_models("acct", page_size=1, filter="a=1")] == ["m1", "m2"]
        assert str(calls[0].url) == "http://test/prefix/v1/accounts/acct/models?filter=a%3D1&pageSize=1"
        assert calls[1].url.params["pageToken"] == "same"
        assert calls[0].headers["authorization"] == "Bearer k"
        with pytest.raises(ApiError) as info:
            client.get_model("acct", "missing")
        assert (info.value.status, info.value.code, info.value.message) == (
            404,
            "NOT_FOUND",
            "model x not found",
        )
        assert str(info.value) == "NOT_FOUND (404): model x not found"
        with pytest.raises(ApiError) as info:
            client.delete_model("acct", "html")
        assert str(info.value) == "UNAVAILABLE (502): <html><body>Bad gateway</body></html>"
        client.update_model("acct", "a b/c", {"public": True}, update_mask="")
        assert calls[-1].url.raw_path == b"/prefix/v1/accounts/acct/models/a%20b%2Fc"
        assert calls[-1].method == "PATCH" and json.loads(calls[-1].content) == {"public": True}
    with ModelyardClient("http://127.0.0.1:9", "k") as client, pytest.raises(ApiConnectionError) as conn:
        client.list_models("acct")
    assert str(conn.value) == "cannot reach http://127.0.0.1:9: connection refused"
