"""``modelyard models ...`` (create, get, update, delete, list and their error lines), run as real
subprocesses against a real server.

Every CLI call is ``python -m modelyard.cli`` with a scrubbed environment: no MODELYARD_* / FIREWORKS_*
variables from the outside, HOME and XDG_CONFIG_HOME in a temporary directory and MODELYARD_CONFIG
pointing there, so the real home directory is never read or written. Commands are written as shell
lines (split with shlex) so they read like the README's examples.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.accounts import Account
from tests.support.client_cli import Cli, as_json, fails, ok, on_terminal, seed

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
