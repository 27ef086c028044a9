"""The catalog's model page lists a model's stored files (issue 14 item 3): names and sizes while it is
uploading, signed download links once it is READY; each link serves the file's bytes."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx

from modelyard.web.present import human_bytes
from tests.support.api import uid
from tests.support.files import FilesServer, qwen2_files, sizes, upload


def _rows(page: str) -> dict[str, tuple[str, str | None]]:
    """File name -> (size cell, download href) from the model page's Files table."""
    rows = {}
    for row in re.findall(r"<tr><td class=\"mono\">(.*?)</tr>", page, re.S):
        name = html.unescape(row.split("</td>", 1)[0])
        size = html.unescape(re.search(r'<td class="num">(.*?)</td>', row).group(1))  # type: ignore[union-attr]
        href = re.search(r'<a href="([^"]+)" download>', row)
        rows[name] = (size, html.unescape(href.group(1)) if href else None)
    return rows


def test_model_page_lists_stored_files_and_links_them_once_ready(
    files_server: FilesServer, tmp_path: Path
) -> None:
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    model_id = uid("page")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    client.models.get_upload_endpoint(model_id, filename_to_size=sizes(files))
    page_url = f"/catalog/accounts/{account.id}/models/{model_id}"

    uploading = account.client.get(page_url)  # the account's key: the model is private
    assert uploading.status_code == 200
    rows = _rows(uploading.text)
    assert set(rows) == set(files)
    assert all(href is None for _, href in rows.values())  # no links before the model is READY

    upload(client, model_id, files)
    client.models.validate_upload(model_id)
    ready = _rows(account.client.get(page_url).text)
    assert {name: size for name, (size, _) in ready.items()} == {
        name: human_bytes(len(data)) for name, data in files.items()
    }
    with httpx.Client(timeout=60) as http:
        for name, (_, href) in ready.items():
            assert href is not None, name
            got = http.get(href)
            assert got.status_code == 200 and got.content == files[name], name
