"""Automations as code: every event kind, scope, condition and built-in action built with the
builder is accepted by the real server and reads back equal; mistakes fail before any request."""

from __future__ import annotations

import uuid

import pytest

from herald_client import (
    HeraldError,
    BuilderError,
    GitHubDispatch,
    Herald,
    LaunchJob,
    NoOp,
    OnAddArtifactAlias,
    OnCreateArtifact,
    OnLinkArtifact,
    OnRunMetric,
    OnRunState,
    SendSlack,
    SendTeams,
    SendWebhook,
    entity,
    metric,
    project,
    registry,
)


@pytest.fixture
def destinations(admin: Herald) -> str:
    """Integrations of every kind, a queue and a job, named with a fresh suffix."""
    tag = uuid.uuid4().hex[:6]
    for kind in ("webhook", "slack", "teams", "github"):
        admin.create_integration(name=f"{kind}-{tag}", kind=kind, url=f"https://{kind}.example.com/hook")
    admin.create_queue(f"gpu-{tag}")
    admin.save_job(f"eval-{tag}", ["true"], config={"model": "none"})
    return tag


def test_every_built_automation_is_accepted_and_reads_back_equal(admin: Herald, destinations: str) -> None:
    t = destinations
    train, models = project("default", "train"), registry("default", "models")
    specs = [
        OnCreateArtifact(train.collection("churn")) >> SendWebhook(f"webhook-{t}", payload={"v": "${artifact_version_string}"}),
        OnLinkArtifact(models) >> SendSlack(f"slack-{t}", title="Linked ${artifact_version_string}", severity="warn"),
        OnLinkArtifact(models.collection("churn")) >> GitHubDispatch(f"github-{t}", "acme", "deploy", "model-linked"),
        OnAddArtifactAlias(models, alias=r"^prod") >> SendTeams(f"teams-{t}", format="adaptive"),
        OnAddArtifactAlias(train) >> LaunchJob(f"gpu-{t}", f"eval-{t}", overrides={"model": "${artifact_version_string}"}, priority=2),
        OnRunState(entity("default"), state="FAILED", run_name="^nightly") >> NoOp(),
        OnRunMetric(train, metric("loss") > 10) >> NoOp(),
        OnRunMetric(train, metric("loss").mean(5) >= 0.5, cooldown_seconds=600) >> NoOp(),
        OnRunMetric(train, metric("acc").max(3) < 0.2) >> NoOp(),
        OnRunMetric(train, metric("acc").min(3) <= 0.1) >> NoOp(),
        OnRunMetric(train, metric("acc") == 0) >> NoOp(),
        OnRunMetric(train, metric("acc") != 1) >> NoOp(),
        OnRunMetric(train, metric("acc").change(current=2, prior=5).decreases_by(0.2, relative=True)) >> NoOp(),
        OnRunMetric(train, metric("loss").change(agg="MAX").increases_by(1.0)) >> NoOp(),
        OnRunMetric(train, metric("loss").change().changes_by(0.5)) >> NoOp(),
        OnRunMetric(entity("default"), metric("gpu").zscore(30).above(3), run_name="^big") >> NoOp(),
        OnRunMetric(train, metric("gpu").zscore(10).below(2)) >> NoOp(),
        OnRunMetric(train, metric("gpu").zscore().outside()) >> NoOp(),
    ]
    for index, spec in enumerate(specs):
        saved = admin.create_automation(spec, name=f"built-{t}-{index}")
        read = admin.automation(saved.id)
        expected = spec.to_api()
        assert read.scope == expected["scope"], index
        assert read.event == expected["event"], index
        assert read.action == expected["action"], index


def test_mistakes_fail_before_any_request() -> None:
    for build in [
        lambda: OnRunState(project("default", "p"), state="DONE"),
        lambda: OnAddArtifactAlias(registry("default", "m"), alias="(unclosed"),
        lambda: metric("loss").mean(0),
        lambda: metric("loss").change().increases_by(0),
        lambda: metric("gpu").zscore().above(-1),
        lambda: SendSlack("s", mode="bot"),
        lambda: OnRunMetric(project("default", "p"), "loss > 1"),
        lambda: OnCreateArtifact(project("default", "p")) >> "webhook",
        lambda: project("default", "a/b"),
        lambda: entity("default").collection("x"),
    ]:
        with pytest.raises(BuilderError):
            build()


def test_a_kind_its_scope_does_not_take_is_refused_by_the_server_naming_the_scope(admin: Herald) -> None:
    # Which scopes take which kinds has one home, the server (GET /v1/triggers): the builder
    # sends what it is given, and the refusal comes back as an error that says why.
    for spec in [
        OnLinkArtifact(project("default", "train")) >> NoOp(),
        OnRunState(registry("default", "models")) >> NoOp(),
    ]:
        with pytest.raises(HeraldError) as refused:
            admin.create_automation(spec, name=f"wrong-scope-{uuid.uuid4().hex[:6]}")
        assert refused.value.status == 400
        assert "scope" in refused.value.message, refused.value.message


def test_apply_creates_updates_and_then_changes_nothing(admin: Herald) -> None:
    name = f"as-code-{uuid.uuid4().hex[:6]}"
    train = project("default", "train")
    spec = OnRunMetric(train, metric("loss").avg(5).gt(0.5)) >> NoOp()
    first = admin.apply(spec, name=name)
    assert first.outcome == "created" and str(first) == f"created automation {name}"
    again = admin.apply(spec, name=name)
    assert again.outcome == "unchanged" and again.automation.id == first.automation.id
    # W&B's spellings build the same condition as the operators.
    assert (metric("loss").avg(5).gt(0.5)) == (metric("loss").mean(5) > 0.5)
    changed = admin.apply(OnRunMetric(train, metric("loss").mean(5) > 0.7) >> NoOp(), name=name,
                          description="tighter")
    assert changed.outcome == "updated" and changed.changed == ["description", "event"]
    assert changed.automation.id == first.automation.id
    assert admin.apply(OnRunMetric(train, metric("loss").mean(5) > 0.7) >> NoOp(), name=name,
                       description="tighter").outcome == "unchanged"
    assert admin.automation_named(name).event["metric"]["value"] == 0.7
    assert admin.delete_automation_named(name) is True
    assert admin.automation_named(name) is None
    assert admin.delete_automation_named(name) is False


def test_a_chained_comparison_is_refused_and_between_keeps_both_bounds(admin: Herald) -> None:
    with pytest.raises(BuilderError, match=r"between\(0.1, 0.5\)"):
        0.1 < metric("loss") < 0.5  # noqa: B015 (the point: Python keeps one bound)
    with pytest.raises(BuilderError, match="aggregate"):
        metric("loss").mean(3).between(0.1, 0.5)
    with pytest.raises(BuilderError, match="below"):
        metric("loss").between(0.5, 0.1)
    name = f"between-{uuid.uuid4().hex[:6]}"
    run_project = f"range-{uuid.uuid4().hex[:6]}"
    saved = admin.apply(OnRunMetric(project("default", run_project), metric("loss").between(0.1, 0.5),
                                    cooldown_seconds=0) >> NoOp(), name=name)
    with admin.run("default", run_project, flush_interval=0.05) as run:
        for step, loss in enumerate([0.05, 0.3, 0.1, 0.49, 0.5, 0.9]):
            run.log({"loss": loss}, step=step)
    fired = sorted(admin.event(e.event_id).body["step"] for e in admin.executions(saved.automation.id))
    assert fired == [1, 3]
