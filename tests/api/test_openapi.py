"""The OpenAPI document describes every route: bodies, answers, and errors as problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import API, assert_problem

PROBLEM = {"$ref": "#/components/schemas/Problem"}
# answers that are not JSON: Server-Sent Events, the Prometheus text format, the OAuth2 callback's page
NOT_JSON = {
    f"GET {API}/events",
    f"GET {API}/executions/{{execution_id}}/events",
    f"GET {API}/executions/{{execution_id}}/binary/{{name}}",
    "GET /metrics",
    "GET /oauth2/callback",
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


async def test_every_operation_documents_its_answer(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 25
    for label, operation in operations.items():
        answers = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert answers, label
        if label in NOT_JSON:
            continue
        for status, response in answers.items():
            if status == "204":
                assert "content" not in response, label
                continue
            schema = response["content"]["application/json"]["schema"]
            assert "$ref" in schema, f"{label} {status}: {schema}"


async def test_every_error_is_a_problem(document: dict[str, Any]) -> None:
    for label, operation in _operations(document).items():
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, label
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail"}


# every authenticated operation also documents 401, 403 and 429
AUTH = {"401", "403", "429"}


@pytest.mark.parametrize(
    ("label", "statuses"),
    [
        (f"GET {API}/workflows/{{workflow_id}}", {"200", "404", "422"} | AUTH),
        (f"PUT {API}/workflows/{{workflow_id}}", {"200", "404", "409", "422"} | AUTH),
        (f"POST {API}/workflows", {"201", "404", "422"} | AUTH),
        (f"POST {API}/workflows/{{workflow_id}}/run", {"200", "202", "404", "422"} | AUTH),
        (f"POST {API}/executions/{{execution_id}}/stop", {"200", "404", "409", "422"} | AUTH),
        (f"DELETE {API}/executions/{{execution_id}}", {"204", "404", "409", "422"} | AUTH),
        ("GET /readyz", {"200", "503"}),
    ],
)
async def test_statuses_are_documented(document: dict[str, Any], label: str, statuses: set[str]) -> None:
    assert set(_operations(document)[label]["responses"]) == statuses


async def test_authenticated_operations_name_their_security_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    public = {
        f"POST {API}/setup",
        f"POST {API}/auth/login",
        f"POST {API}/auth/refresh",
        "GET /oauth2/callback",
        "GET /healthz",
        "GET /readyz",
    }
    for label, operation in _operations(document).items():
        if label in public:
            assert "security" not in operation, label
        else:
            assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}], label
            assert set(operation["responses"]) >= AUTH, label


async def test_workflow_bodies_are_described(document: dict[str, Any]) -> None:
    operations = _operations(document)
    created = operations[f"POST {API}/workflows"]["requestBody"]["content"]["application/json"]["schema"]
    assert created["required"] == ["nodes"]
    assert created["properties"]["nodes"]["items"] == {"$ref": "#/components/schemas/Node"}
    assert {"tags", "versionId", "connections", "settings"} <= set(created["properties"])
    patched = operations[f"PATCH {API}/workflows/{{workflow_id}}"]["requestBody"]["content"]
    assert "required" not in patched["application/json"]["schema"]
    run = operations[f"POST {API}/workflows/{{workflow_id}}/run"]
    schema = run["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/RunRequest"} in schema["anyOf"]  # or no body at all


async def test_ids_refuse_nul_in_the_document_too(document: dict[str, Any]) -> None:
    [param] = _operations(document)[f"GET {API}/executions/{{execution_id}}"]["parameters"]
    assert param["schema"]["pattern"] == r"^[^\x00]*$"


async def test_webhooks_stay_out_of_the_document(document: dict[str, Any]) -> None:
    assert not [path for path in document["paths"] if path.startswith("/webhook")]


async def test_a_wait_true_run_answers_its_documented_shape(
    client: httpx.AsyncClient, created: dict[str, Any], document: dict[str, Any]
) -> None:
    """The answers' shapes are those of the schemas (which schemathesis checks case by case)."""
    result_schema = document["components"]["schemas"]["ExecutionResult"]
    response = await client.post(f"{API}/workflows/{created['id']}/run", json={"wait": True})
    assert response.status_code == 200
    assert set(result_schema["required"]) <= set(response.json())
    missing = await client.get(f"{API}/executions/nope")
    assert set(document["components"]["schemas"]["Problem"]["required"]) <= set(
        assert_problem(missing, 404, "not_found")
    )
