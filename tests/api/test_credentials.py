"""``/credentials`` and ``/credential-types``: typed data, redaction, roles, sharing, testing,
audit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relayflow.access.model import AuditQuery, InstanceRole, ProjectRole, Scope
from relayflow.api import ApiServices
from relayflow.credentials.types import REDACTED
from tests.api.conftest import API, OWNER_EMAIL, assert_problem

SECRET = "api-canary-7Hq"
BASIC = {"user": "ada", "password": SECRET}


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    payload = {"name": "api", "type": "httpBasicAuth", "data": BASIC, **body}
    response = await client.post(f"{API}/credentials", json=payload)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def key_of(
    services: ApiServices,
    email: str,
    *,
    project_role: ProjectRole | None = None,
    scopes: tuple[Scope, ...] = (Scope.READ, Scope.WRITE),
) -> tuple[str, str]:
    """(API key, personal project id) of a new member; ``project_role`` in the owner's project."""
    user = await services.access.create_user(email, email.split("@")[0], "password-123", InstanceRole.MEMBER)
    if project_role is not None:
        owner = await services.access.store.user_by_email(OWNER_EMAIL)
        assert owner is not None
        await services.access.store.set_member(owner.personal_project_id, user.id, project_role)
        services.access.changed()
    return (await services.access.issue_api_key(user, "t", scopes)).token, user.personal_project_id


def as_(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


async def audit_actions(services: ApiServices, target_id: str) -> list[str]:
    page = await services.access.store.audit_log(AuditQuery(target_id=target_id, limit=100))
    return [e.action for e in reversed(page.items)]


async def test_create_answers_redacted_data_and_stores_it_sealed(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await create(client)
    assert cred["type"] == "httpBasicAuth" and cred["name"] == "api" and cred["sharedWith"] == []
    assert cred["data"] == {"user": "ada", "password": REDACTED}
    assert {"id", "projectId", "createdAt", "updatedAt"} <= set(cred)
    row = await services.access.store.get_credential(cred["id"])
    assert row is not None and SECRET not in row.sealed

    got = await client.get(f"{API}/credentials/{cred['id']}")
    assert got.status_code == 200 and got.json()["data"] == {"user": "ada", "password": REDACTED}
    listed = (await client.get(f"{API}/credentials")).json()["data"]
    assert [c["id"] for c in listed] == [cred["id"]] and "data" not in listed[0]
    assert SECRET not in got.text + str(listed)
    assert await audit_actions(services, cred["id"]) == [
        "credential.created",
        "credential.read_data",
        "credential.read_data",
    ]


async def test_list_filters_by_type_and_project(client: httpx.AsyncClient) -> None:
    basic = await create(client)
    header = await create(client, name="hdr", type="httpHeaderAuth", data={"name": "X-K", "value": "v"})
    by_type = (await client.get(f"{API}/credentials", params={"type": "httpHeaderAuth"})).json()["data"]
    assert [c["id"] for c in by_type] == [header["id"]]
    by_project = await client.get(f"{API}/credentials", params={"projectId": basic["projectId"]})
    assert {c["id"] for c in by_project.json()["data"]} == {basic["id"], header["id"]}
    assert (await client.get(f"{API}/credentials", params={"projectId": "elsewhere"})).json()["data"] == []


async def test_credential_types_describe_their_fields(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/credential-types")
    assert response.status_code == 200
    types = {t["name"]: t for t in response.json()["data"]}
    assert {"httpBasicAuth", "oAuth2Api", "postgres", "slackApi", "webhookSignature"} <= set(types)
    fields = {f["name"]: f for f in types["postgres"]["fields"]}
    assert fields["password"]["secret"] is True and fields["port"]["type"] == "number"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"data": {**BASIC, "extra": "x"}}, "data.extra"),
        ({"data": {"user": 1, "password": "p"}}, "data.user"),
        ({"data": {"user": "u"}}, "data.password"),
        ({"type": "ftp"}, "ftp"),
        ({"name": ""}, "name"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], names: str
) -> None:
    payload = {"name": "api", "type": "httpBasicAuth", "data": BASIC, **body}
    problem = assert_problem(await client.post(f"{API}/credentials", json=payload), 422, "input_invalid")
    assert names in problem["detail"]
    assert (await client.get(f"{API}/credentials")).json()["data"] == []


async def test_patch_merges_and_keeps_placeholder_secrets(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await create(client)
    response = await client.patch(
        f"{API}/credentials/{cred['id']}",
        json={"name": "renamed", "data": {"user": "bob", "password": REDACTED}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "renamed"
    assert response.json()["data"] == {"user": "bob", "password": REDACTED}
    row = await services.access.store.get_credential(cred["id"])
    assert row is not None and services.credentials is not None
    assert services.credentials.open(row) == {"user": "bob", "password": SECRET}

    await client.patch(f"{API}/credentials/{cred['id']}", json={"data": {"password": "new-one"}})
    row = await services.access.store.get_credential(cred["id"])
    assert row is not None and services.credentials.open(row) == {"user": "bob", "password": "new-one"}
    bad = await client.patch(f"{API}/credentials/{cred['id']}", json={"data": {"port": 1}})
    assert "data.port" in assert_problem(bad, 422, "input_invalid")["detail"]


async def test_delete_then_404(client: httpx.AsyncClient, services: ApiServices) -> None:
    cred = await create(client)
    assert (await client.delete(f"{API}/credentials/{cred['id']}")).status_code == 204
    assert_problem(await client.get(f"{API}/credentials/{cred['id']}"), 404, "not_found")
    assert_problem(await client.delete(f"{API}/credentials/{cred['id']}"), 404, "not_found")
    assert (await audit_actions(services, cred["id"]))[-1] == "credential.deleted"


async def test_a_caller_outside_the_project_gets_404_everywhere(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await create(client)
    token, _ = await key_of(services, "outsider@example.com")
    url = f"{API}/credentials/{cred['id']}"
    for response in (
        await client.get(url, headers=as_(token)),
        await client.patch(url, json={"name": "x"}, headers=as_(token)),
        await client.delete(url, headers=as_(token)),
        await client.post(f"{url}/test", headers=as_(token)),
        await client.put(f"{url}/share", json={"projectIds": []}, headers=as_(token)),
        await client.put(f"{url}/transfer", json={"projectId": "p"}, headers=as_(token)),
        await client.get(f"{url}/oauth2/authorize", headers=as_(token)),
    ):
        assert_problem(response, 404, "not_found")
    assert (await client.get(f"{API}/credentials", headers=as_(token))).json()["data"] == []


async def test_a_viewer_sees_name_and_type_but_no_data_and_changes_nothing(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await create(client)
    token, _ = await key_of(services, "viewer@example.com", project_role=ProjectRole.VIEWER)
    url = f"{API}/credentials/{cred['id']}"
    got = await client.get(url, headers=as_(token))
    assert got.status_code == 200 and "data" not in got.json() and got.json()["name"] == "api"
    for response in (
        await client.patch(url, json={"name": "x"}, headers=as_(token)),
        await client.delete(url, headers=as_(token)),
        await client.post(f"{url}/test", headers=as_(token)),
        await client.put(f"{url}/share", json={"projectIds": []}, headers=as_(token)),
    ):
        assert_problem(response, 403, "forbidden")
    assert_problem(
        await client.post(
            f"{API}/credentials",
            json={"name": "n", "type": "httpBasicAuth", "data": BASIC},
            params={"projectId": cred["projectId"]},
            headers=as_(token),
        ),
        403,
        "forbidden",
    )


async def test_an_editor_reads_data_and_changes_but_does_not_share(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await create(client)
    token, _ = await key_of(services, "editor@example.com", project_role=ProjectRole.EDITOR)
    url = f"{API}/credentials/{cred['id']}"
    assert (await client.get(url, headers=as_(token))).json()["data"]["password"] == REDACTED
    assert (await client.patch(url, json={"name": "ed"}, headers=as_(token))).status_code == 200
    assert (await client.post(f"{url}/test", headers=as_(token))).json()["status"] == "ok"
    assert_problem(
        await client.put(f"{url}/share", json={"projectIds": []}, headers=as_(token)), 403, "forbidden"
    )
    created = await client.post(
        f"{API}/credentials",
        params={"projectId": cred["projectId"]},
        json={"name": "by editor", "type": "httpBearerAuth", "data": {"token": "t"}},
        headers=as_(token),
    )
    assert created.status_code == 201 and created.json()["projectId"] == cred["projectId"]


async def test_a_read_only_key_cannot_create(client: httpx.AsyncClient, services: ApiServices) -> None:
    token, _ = await key_of(services, "reader@example.com", scopes=(Scope.READ,))
    response = await client.post(
        f"{API}/credentials", json={"name": "n", "type": "httpBasicAuth", "data": BASIC}, headers=as_(token)
    )
    assert_problem(response, 403, "forbidden")


async def test_share_and_transfer(client: httpx.AsyncClient, services: ApiServices) -> None:
    cred = await create(client)
    token, bobs_project = await key_of(services, "bob@example.com")
    url = f"{API}/credentials/{cred['id']}"
    assert_problem(await client.put(f"{url}/share", json={"projectIds": ["nope"]}), 404, "not_found")
    shared = await client.put(f"{url}/share", json={"projectIds": [bobs_project]})
    assert shared.status_code == 200 and shared.json()["sharedWith"] == [bobs_project]
    # bob sees it through the share: name and type, no data, no changes
    seen = await client.get(url, headers=as_(token))
    assert seen.status_code == 200 and "data" not in seen.json()
    assert_problem(await client.patch(url, json={"name": "x"}, headers=as_(token)), 403, "forbidden")
    assert [c["id"] for c in (await client.get(f"{API}/credentials", headers=as_(token))).json()["data"]] == [
        cred["id"]
    ]

    moved = await client.put(f"{url}/transfer", json={"projectId": bobs_project})
    assert moved.status_code == 200, moved.text
    assert moved.json()["projectId"] == bobs_project and moved.json()["sharedWith"] == []
    assert (await client.get(url, headers=as_(token))).json()["data"]["password"] == REDACTED
    assert_problem(await client.put(f"{url}/transfer", json={"projectId": "nope"}), 404, "not_found")
    actions = await audit_actions(services, cred["id"])
    assert "credential.shared" in actions and "credential.moved" in actions


async def test_test_endpoint_reports_results_not_errors(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    basic = await create(client)
    ok = await client.post(f"{API}/credentials/{basic['id']}/test")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "message": "fields are complete; no endpoint to test against"}

    # nothing listens on port 1: a refused connection is a result, and never names the password
    db = await create(
        client,
        name="db",
        type="postgres",
        data={"host": "127.0.0.1", "port": 1, "database": "d", "user": "u", "password": SECRET},
    )
    failed = await client.post(f"{API}/credentials/{db['id']}/test")
    assert failed.status_code == 200
    assert failed.json()["status"] == "error" and failed.json()["message"]
    assert SECRET not in failed.text
    assert (await audit_actions(services, db["id"]))[-1] == "credential.tested"


async def test_the_openapi_document_lists_the_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get(f"{API}/openapi.json")).json()["paths"]
    assert {
        f"{API}/credentials",
        f"{API}/credentials/{{credential_id}}",
        f"{API}/credentials/{{credential_id}}/test",
        f"{API}/credentials/{{credential_id}}/share",
        f"{API}/credentials/{{credential_id}}/transfer",
        f"{API}/credentials/{{credential_id}}/oauth2/authorize",
        f"{API}/credential-types",
        "/oauth2/callback",
    } <= set(paths)


async def test_a_tampered_row_answers_a_loud_problem_naming_it_without_the_secret(
    client: httpx.AsyncClient, services: ApiServices
) -> None:
    cred = await create(client)
    stored = await services.access.store.get_credential(cred["id"])
    assert stored is not None
    prefix, kid, body = stored.sealed.split(":", 2)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    await services.access.store.update_credential(cred["id"], sealed=f"{prefix}:{kid}:{flipped}")
    services.credentials.changed()  # the row was changed behind the service's back
    response = await client.get(f"{API}/credentials/{cred['id']}")
    body_json = assert_problem(response, 500, "secret_tampered")
    assert "does not open" in body_json["detail"]
    assert SECRET not in response.text
