"""The examples run as written against the real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ADMIN_KEY

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, server, *args: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env={**os.environ, "HERALD_URL": server.url, "HERALD_KEY": ADMIN_KEY, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_toy_training_loop_fires_its_metric_automation(server, receiver) -> None:
    out = run_example("toy_training.py", server, HOOK_URL=f"{receiver.url}/toy")
    assert "done" in out
    body = receiver.wait_for(1)[0]["body"]
    assert body["run"] == "diverging-lr"
    assert body["why"] == "average of loss over the last 5 values > 2"


def test_the_ci_script_links_and_promotes(server, admin) -> None:
    admin.create_automation(
        {"scope": {"type": "registry", "registry": "models"},
         "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": "production"}},
         "action": {"type": "no-op"}},
        name="on-production",
    )
    out = run_example("ci_promote.py", server, "fraud", "v3")
    assert "linked fraud:v3" in out
    assert "aliased production: 1 automation(s) fired" in out
