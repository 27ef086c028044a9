"""``/openapi.json`` describes every endpoint with the seed's schema names; ``/docs`` renders offline."""

from __future__ import annotations

from modelyard.resources.model import MODEL
from tests.support.server import Server


def test_openapi_document(server: Server) -> None:
    client = server.anonymous()
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    list_op = doc["paths"]["/v1/accounts/{account_id}/models"]["get"]
    assert list_op["operationId"] == "Gateway_ListModels"
    assert {p["name"] for p in list_op["parameters"]} == {
        "pageSize",
        "pageToken",
        "filter",
        "orderBy",
        "readMask",
        "account_id",
    }
    item = doc["paths"]["/v1/accounts/{account_id}/models/{model_id}"]
    assert {"get", "patch", "delete"} <= set(item)
    assert "post" in doc["paths"]["/v1/accounts/{account_id}/models"]
    model_path = "/v1/accounts/{account_id}/models/{model_id}"
    assert "post" in doc["paths"][model_path + ":getUploadEndpoint"]
    assert "get" in doc["paths"][model_path + ":validateUpload"]
    assert "get" in doc["paths"][model_path + ":getDownloadEndpoint"]
    schemas = doc["components"]["schemas"]
    for name in (
        "gatewayModel",
        "gatewayListModelsResponse",
        "gatewayBaseModelDetails",
        "gatewayPEFTDetails",
        "gatewayConversationConfig",
        "gatewayStatus",
        "ModelKind",
        "gatewayModelState",
        "typeDate",
        "DeploymentPrecision",
        "gatewayDeployedModelRef",
        "ModelSnapshotType",
    ):
        assert name in schemas, name
    model_props = schemas["gatewayModel"]["properties"]
    assert set(model_props) == {f.json_name for f in MODEL.fields}
    assert model_props["createTime"]["readOnly"] is True
    count = schemas["gatewayBaseModelDetails"]["properties"]["parameterCount"]
    assert count["type"] == "string" and count["format"] == "int64" and count["pattern"].startswith("^")
    # Issue 15 item 9: the document states what the server enforces.
    params = {p["name"]: p["schema"] for p in list_op["parameters"]}
    assert params["pageSize"]["minimum"] == 0
    assert params["account_id"]["pattern"].startswith("^(-|")
    get_params = {p["name"]: p["schema"] for p in item["get"]["parameters"]}
    assert (
        get_params["model_id"]["pattern"]
        == get_params["account_id"]["pattern"]
        == "^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
    )
    assert model_props["displayName"]["maxLength"] == 63 and model_props["description"]["maxLength"] == 999
    files = schemas["gatewayBaseModelDetails"]["properties"]["huggingfaceFiles"]
    assert files["maxItems"] == 10_000 and files["items"]["maxLength"] == 4095
    assert model_props["defaultSamplingParams"]["maxProperties"] == 1000
    assert schemas["gatewayModel"]["additionalProperties"] is False
    assert doc["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


def test_docs_page_is_self_contained(server: Server) -> None:
    client = server.anonymous()
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text and "/docs/static/swagger-ui-bundle.js" in page.text
    js = client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs/static/swagger-ui.css").status_code == 200


def test_catalog_page(server: Server) -> None:
    client = server.anonymous()
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/catalog"
    page = client.get("/catalog")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<input type="search"' in page.text  # the catalog itself: tests/test_web_catalog.py
