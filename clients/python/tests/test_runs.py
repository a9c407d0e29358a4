"""Reporting runs: metric samples in the background fire automations; failures are reported; the
sender survives an unreachable server with bounded memory."""

from __future__ import annotations

import math
import time
import uuid
import warnings

import pytest

from herald_client import Herald, metric_value


def test_logged_metrics_fire_a_threshold_automation(admin: Herald, receiver) -> None:
    project = f"train-{uuid.uuid4().hex[:6]}"
    hook = f"alerts-{project}"
    admin.create_integration(name=hook, kind="webhook", url=f"{receiver.url}/alerts")
    admin.create_automation(
        {
            "scope": {"type": "project", "project": project},
            "event": {"type": "RUN_METRIC_THRESHOLD",
                      "metric": {"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt", "value": 0.5}},
            "action": {"type": "webhook", "integration": hook,
                       "payload": {"metric": "${metric_name}", "values": "${metric_values}",
                                   "condition": "${metric_condition}", "run": "${run_name}"}},
        },
        name=f"diverged-{project}",
    )
    with admin.run("default", project, name="lr-3e-4", flush_interval=0.05) as run:
        for step, loss in enumerate([0.9, 0.2, 0.9, 0.9, 0.9]):
            run.log({"loss": loss, "acc": 0.5}, step=step)
    got = receiver.wait_for(1)
    assert got[0]["body"] == {
        "metric": "loss",
        "values": [0.9, 0.2, 0.9],
        "condition": "average of loss over the last 3 values > 0.5",
        "run": "lr-3e-4",
    }


def test_an_exception_in_the_with_block_reports_the_run_failed(admin: Herald) -> None:
    project = f"fail-{uuid.uuid4().hex[:6]}"
    automation = admin.create_automation(
        {"scope": {"type": "project", "project": project},
         "event": {"type": "RUN_STATE", "filter": {"state": "FAILED"}}, "action": {"type": "no-op"}},
        name=f"failed-{project}",
    )
    with pytest.raises(RuntimeError):
        with admin.run("default", project):
            raise RuntimeError("out of memory")
    assert len(admin.executions(automation.id)) == 1


def test_non_finite_values_are_sent_as_the_server_expects() -> None:
    assert metric_value(float("nan")) == "NaN"
    assert metric_value(math.inf) == "Infinity"
    assert metric_value(-math.inf) == "-Infinity"
    assert metric_value(3) == 3.0


def test_an_unreachable_server_never_blocks_logging_and_memory_stays_bounded(tmp_path) -> None:
    from conftest import ADMIN_KEY, Server

    server = Server(tmp_path / "data")
    port = server.port
    client = Herald(server.url, ADMIN_KEY, timeout=1.0)
    every = client.create_automation(
        {"scope": {"type": "project", "project": "offline"},
         "event": {"type": "RUN_METRIC_THRESHOLD",
                   "metric": {"name": "loss", "cmp": "$gt", "value": 0.0, "cooldown_seconds": 0}},
         "action": {"type": "no-op"}},
        name="every-sample",
    )
    # No spool on disk: past max_queued, the oldest samples are dropped.
    run = client.run("default", "offline", flush_interval=0.05, max_queued=100, max_spool_bytes=0)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        server.stop()
        started = time.monotonic()
        for step in range(1000):
            run.log({"loss": 0.1}, step=step)
        assert time.monotonic() - started < 1.0, "log() must not wait for the network"
        assert run.queued <= 100 and run.dropped == 900
        # Restarted on the same port and data: the samples kept arrive.
        server = Server(tmp_path / "data", port=port)
        try:
            run.finish()
            assert run.queued == 0
            assert len(client.executions(every.id, limit=1000)) == 100
        finally:
            server.stop()
            client.close()
    dropped = [str(w.message) for w in said if "dropped" in str(w.message)]
    assert len(dropped) == 1, f"said once: {dropped}"


def test_a_ten_second_outage_loses_no_sample_of_a_hundred_metrics_a_step(tmp_path) -> None:
    from conftest import ADMIN_KEY, Server

    server = Server(tmp_path / "data")
    port = server.port
    client = Herald(server.url, ADMIN_KEY, timeout=1.0)
    halves = [
        client.create_automation(
            {"scope": {"type": "project", "project": "outage"},
             "event": {"type": "RUN_METRIC_THRESHOLD", "filter": {"step": {op: 1000}},
                       "metric": {"name": "layer_00", "cmp": "$gt", "value": -1.0, "cooldown_seconds": 0}},
             "action": {"type": "no-op"}},
            name=f"every-sample-{name}",
        ).id
        for name, op in (("low", "$lt"), ("high", "$gte"))
    ]
    run = client.run("default", "outage", flush_interval=0.05, max_queued=200,
                     spool_dir=str(tmp_path / "spool"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        server.stop()
        started = time.monotonic()
        for step in range(2000):
            run.log({f"layer_{i:02d}": 0.5 + i for i in range(100)}, step=step)
            time.sleep(0.005)
        assert time.monotonic() - started < 30
        assert run.dropped == 0 and run.queued == 2000
        assert any((tmp_path / "spool").iterdir()), "samples beyond max_queued wait on disk"
        server = Server(tmp_path / "data", port=port)
        try:
            run.finish(timeout=120)
            assert run.queued == 0
            assert [len(client.executions(h, limit=1000)) for h in halves] == [1000, 1000]
        finally:
            server.stop()
            client.close()
    messages = [str(w.message) for w in said]
    assert sum("wait in" in m for m in messages) == 1, f"said once: {messages}"
    assert any("waited on disk" in m and "0 were still unsent" in m for m in messages), messages
    assert not any((tmp_path / "spool").iterdir()), "the spool is removed at the end"
