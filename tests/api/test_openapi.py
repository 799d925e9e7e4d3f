"""The API describes itself: /docs, and every operation with a summary, a response model and examples."""

from __future__ import annotations

NO_BODY = {("post", "/api/v1/projects/{project_id}/queue/{item_id}/release"), ("delete", "/api/v1/tokens/{token_id}"),
           ("get", "/api/v1/projects/{project_id}/labels/export")}
RAW_ANSWERS = {("post", "/api/v1/systems/preview"), ("get", "/api/v1/datasets/{dataset_id}/preview"),
               ("get", "/healthz"), ("get", "/readyz")}


def test_docs_page_is_served(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()


def test_every_operation_has_a_summary_and_a_response_model(client):
    spec = client.get("/openapi.json").json()
    operations = [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 38
    for method, path, op in operations:
        assert op.get("summary"), (method, path)
        if path.startswith("/api/v1/") and path != "/api/v1/users/me":
            assert {"401", "403"} <= set(op["responses"]), (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
        if (method, path) in NO_BODY | RAW_ANSWERS:
            continue
        ok = next(code for code in op["responses"] if code.startswith("2"))
        schema = op["responses"][ok]["content"]["application/json"]["schema"]
        assert schema and schema != {}, (method, path)


def test_scoring_is_documented_with_examples(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/projects/{project_id}/score"]["post"]
    assert set(op["requestBody"]["content"]) == {"text/plain", "application/json", "application/x-ndjson"}
    assert all("example" in c for c in op["requestBody"]["content"].values())
    assert {"401", "403", "404", "409", "413", "415", "422"} <= set(op["responses"])
    answer = spec["components"]["schemas"]["ScoreOut"]
    assert answer["examples"][0]["windows"][1]["top_lines"] == [23, 24]
    assert "top_lines" in spec["components"]["schemas"]["ScoreWindow"]["properties"]
