"""The client against the real binary: a round trip through the resources, typed errors."""

from __future__ import annotations

import uuid

import pytest

from herald_client import (
    Conflict,
    Forbidden,
    Herald,
    InvalidRequest,
    MissingReference,
    NotFound,
    Refused,
    Unauthorized,
)

from conftest import ADMIN_KEY, Receiver


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_round_trip_through_the_resources(admin: Herald, receiver) -> None:
    assert admin.whoami() == {**admin.whoami(), "entity": "default", "role": "admin"}
    assert {"webhook", "slack", "launch-job"} <= {p.name for p in admin.plugins()}
    admin.set_secret("PY_TOKEN", "py-token-value-1")
    assert "PY_TOKEN" in admin.secret_names()
    hook = unique("hook")
    integration = admin.create_integration(name=hook, kind="webhook", url=f"{receiver.url}/hook", access_token="PY_TOKEN")
    assert integration.kind == "webhook"
    assert admin.integration(hook).name == hook
    assert hook in {i.name for i in admin.integrations()}
    tested = admin.test_integration(hook, {"hello": "world"})
    assert tested["response"]["status"] == 200
    collection = unique("churn")
    automation = admin.create_automation(
        {
            "scope": {"type": "collection", "registry": "models", "collection": collection},
            "event": {"type": "LINK_ARTIFACT"},
            "action": {"type": "webhook", "integration": hook, "payload": {"model": "${artifact_version_string}"}},
        },
        name=unique("deploy"),
    )
    assert automation.enabled
    assert admin.automation(automation.id) == automation
    assert automation.id in {a.id for a in admin.automations(project="models", collection=collection)}
    assert not admin.disable_automation(automation.id).enabled
    assert admin.enable_automation(automation.id).enabled
    sent = admin.send_event(
        {"type": "LINK_ARTIFACT", "entity": "default", "registry": "models", "collection": collection, "version": "v1"},
        idempotency_key=unique("key"),
    )
    assert sent.matched == 1 and not sent.duplicate
    body = [r["body"] for r in receiver.wait_for(2) if r["path"] == "/hook"]
    assert {"model": f"default/models/{collection}:v1"} in body
    event = admin.event(sent.event_id)
    assert event.type == "LINK_ARTIFACT" and len(event.executions) == 1
    execution = admin.execution(event.executions[0].id)
    assert execution.automation_id == automation.id
    assert [e.id for e in admin.executions(automation.id)] == [execution.id]
    batch = admin.send_events([
        {"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r", "state": "RUNNING"},
        {"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r", "state": "FINISHED"},
    ])
    assert len(batch) == 2
    admin.delete_automation(automation.id)
    with pytest.raises(NotFound):
        admin.automation(automation.id)
    admin.delete_integration(hook)
    admin.delete_secret("PY_TOKEN")


def test_errors_are_typed_and_carry_the_apis_code_and_message(server, admin: Herald) -> None:
    with pytest.raises(InvalidRequest) as bad:
        admin.send_event({"type": "RUN_METRIC", "entity": "default", "project": "p", "run_id": "r",
                          "metrics": {"loss": "nan"}})
    assert bad.value.status == 400 and bad.value.code == "invalid"
    assert "metrics.loss" in bad.value.message
    with pytest.raises(Unauthorized):
        Herald(server.url, "hk_not-a-key").whoami()
    member_key = admin.request("POST", "/v1/entities/default/keys", {"role": "member"})["key"]
    with pytest.raises(Forbidden):
        Herald(server.url, member_key).secret_names()
    with pytest.raises(NotFound):
        admin.execution("nope")
    name = unique("twice")
    admin.create_integration(name=name, kind="webhook", url="https://example.com/")
    with pytest.raises(Conflict) as twice:
        admin.create_integration(name=name, kind="webhook", url="https://example.com/")
    assert twice.value.code == "conflict"
    # A name that refers to nothing is the request's fault, not a missing route: 422 `missing`.
    with pytest.raises(MissingReference) as missing:
        admin.create_integration(name=unique("tokened"), kind="webhook",
                                 url="https://example.com/", access_token="NO_SUCH_SECRET")
    assert (missing.value.status, missing.value.code) == (422, "missing")
    assert missing.value.message.startswith("access_token:")
    # The egress policy refuses a loopback literal the schema cannot tell from any other URL.
    with pytest.raises(Refused) as refused:
        admin.create_integration(name=unique("private"), kind="webhook", url="http://10.0.0.1/")
    assert refused.value.code == "refused" and not isinstance(refused.value, MissingReference)


def test_artifact_helpers_post_the_events_automations_match(admin: Herald) -> None:
    collection = unique("churn")
    spec = {
        "scope": {"type": "registry", "registry": "models"},
        "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": "production", "collection": collection}},
        "action": {"type": "no-op"},
    }
    automation = admin.create_automation(spec, name=unique("promoted"))
    created = admin.artifact_created("default", "train", collection, "v7", metadata={"acc": 0.93}, author="ci")
    linked = admin.artifact_linked("default", "models", collection, "v7", source=f"default/train/{collection}:v7")
    promoted = admin.alias_added("default", collection, "v7", "production", registry="models")
    assert (created.matched, linked.matched, promoted.matched) == (0, 0, 1)
    assert admin.event(promoted.event_id).body["alias"] == "production"
    assert len(admin.executions(automation.id)) == 1
    why = admin.why(linked.event_id)
    assert all(c["automation_id"] != automation.id for c in why), "it listens for aliases only"
    why = {c["automation_id"]: c for c in admin.why(promoted.event_id)}
    assert why[automation.id]["verdict"] == "fired"
    other = admin.alias_added("default", collection, "v7", "staging", registry="models")
    stopped = {c["automation_id"]: c for c in admin.why(other.event_id)}[automation.id]
    assert stopped["verdict"] == "filter" and "production" in stopped["reason"]
    with pytest.raises(ValueError):
        admin.alias_added("default", collection, "v7", "x")


def test_launch_keys_and_entities_round_trip(admin: Herald, server) -> None:
    job = unique("eval")
    assert admin.save_job(job, ["true"], config={"model": "none"}).version == 1
    assert admin.save_job(job, ["true"], config={"model": "none", "suite": "full"}).version == 2
    assert admin.job(f"{job}@1").config == {"model": "none"}
    assert [j.version for j in admin.job_versions(job)] == [1, 2]
    assert job in {j.name for j in admin.jobs()}
    queue = unique("gpu")
    assert admin.create_queue(queue).name == queue
    assert queue in {q.name for q in admin.queues()}
    item = admin.enqueue(queue, job, "train", overrides={"model": "v7"}, priority=1)
    assert item.config == {"model": "v7", "suite": "full"} and item.job == f"{job}@2"
    assert [i.id for i in admin.queue_items(queue, status="queued")] == [item.id]
    assert admin.queue_item(item.id).status == "queued"
    nothing_yet = admin.item_output(item.id)
    assert (nothing_yet["text"], nothing_yet["output_bytes"], nothing_yet["status"]) == ("", 0, "queued")
    assert admin.cancel_item(item.id).status == "cancelled"
    with pytest.raises(Conflict):
        admin.cancel_item(item.id)
    # Well-formed, but not a key this job declares: 422 `refused`.
    with pytest.raises(Refused) as refused:
        admin.enqueue(queue, job, "train", overrides={"command": "rm"})
    assert refused.value.code == "refused"

    key = admin.create_key(role="member", label="ci")
    assert key.key and key.key.startswith("hk_")
    assert key.id in {k.id for k in admin.keys()}
    with Herald(server.url, key.key) as member:
        assert member.whoami()["role"] == "member"
    admin.delete_key(key.id)
    with pytest.raises(Unauthorized):
        Herald(server.url, key.key).whoami()
    team = admin.create_entity(unique("team"))
    assert team["admin_key"]["key"].startswith("hk_")


def test_a_send_answered_503_is_sent_again_with_the_same_idempotency_key() -> None:
    """A host whose database connection was lost answers 503, the outcome unknown: the client
    sends the event again, under the key it sent first, until an answer comes."""
    unknown = (503, b'{"error": {"code": "unavailable", "message": "outcome unknown"}}')
    accepted = (202, b'{"event_id": "e1", "matched": 0, "duplicate": true}')
    host = Receiver(answers=[unknown, unknown, accepted])
    try:
        client = Herald(host.url, api_key=ADMIN_KEY)
        event = {"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r",
                 "state": "FAILED"}
        assert client.send_event(event).event_id == "e1"
        keys = [r["headers"]["idempotency-key"] for r in host.requests]
        assert len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("py-"), keys
    finally:
        host.stop()


def test_every_execution_is_read_page_by_page(admin: Herald) -> None:
    """A history larger than a page is read whole, each execution once, newest first."""
    automation = admin.create_automation({
        "name": unique("pages"), "scope": {"type": "registry", "registry": "paged"},
        "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "no-op"},
    })
    events = [{"type": "LINK_ARTIFACT", "entity": "default", "registry": "paged",
               "collection": "c", "version": f"v{i}"} for i in range(25)]
    admin.send_events(events)
    ids = [e.id for e in admin.all_executions(automation.id, page_size=10)]
    assert len(ids) == 25 and len(set(ids)) == 25, ids
    assert ids == sorted(ids, reverse=True)


def test_the_audit_log_says_who_changed_what(admin: Herald) -> None:
    """A change is in the audit log with its actor and fields; secret values never are."""
    name = unique("AUDITED").replace("-", "_").upper()
    admin.set_secret(name, "never-in-the-log-9c1e")
    admin.set_secret(name, "never-in-the-log-again")
    entries = list(admin.audit_log(target_kind="secret", target=name))
    assert [e["action"] for e in entries] == ["secret.set", "secret.set"], entries
    assert entries[0]["after"] == {"name": name, "created": False}
    assert entries[1]["after"] == {"name": name, "created": True}
    assert entries[0]["actor"]["role"] == "admin"
    assert entries[0]["actor"]["key_id"] == admin.whoami()["key_id"]
    assert "never-in-the-log" not in repr(list(admin.audit_log()))
