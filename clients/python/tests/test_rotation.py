"""Signing-secret rotation, checked as a receiver checks it: with the Standard Webhooks library
(``standardwebhooks``), verifying each delivery with the old secret and with the new one."""

from __future__ import annotations

import base64
import os
import time
import uuid

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from herald_client import Herald


def verifies(secret: str, request: dict) -> bool:
    """Whether a receiver holding ``secret`` accepts the delivery."""
    try:
        Webhook(secret).verify(request["raw"], request["headers"])
        return True
    except WebhookVerificationError:
        return False


def test_a_rotated_secret_signs_with_both_values_through_the_overlap_then_only_the_new(
    admin: Herald, receiver
) -> None:
    suffix = uuid.uuid4().hex[:8]
    secret, hook, collection = f"SIGNING_{suffix.upper()}", f"signed-{suffix}", f"churn-{suffix}"
    old = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    admin.set_secret(secret, old)
    admin.create_integration(name=hook, kind="webhook", url=f"{receiver.url}/hook", signing_secret=secret)
    admin.create_automation(
        {
            "scope": {"type": "collection", "registry": "models", "collection": collection},
            "event": {"type": "LINK_ARTIFACT"},
            "action": {"type": "webhook", "integration": hook},
        },
        name=f"signed-{suffix}",
    )
    sent = 0

    def deliver() -> dict:
        nonlocal sent
        sent += 1
        admin.send_event({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                          "collection": collection, "version": f"v{sent}"})
        return receiver.wait_for(sent)[-1]

    before = deliver()
    assert verifies(old, before)

    rotated = admin.rotate_secret(secret, overlap_seconds=3)
    new = rotated["value"]
    assert new.startswith("whsec_") and new != old and rotated["name"] == secret
    during = deliver()
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    assert len(during["headers"]["x-wandb-signature"].split(" ")) == 2
    assert verifies(old, during), "a receiver still holding the old secret passes"
    assert verifies(new, during), "a receiver already holding the new secret passes"

    # Once the overlap has ended, deliveries carry the new signature alone.
    deadline = time.monotonic() + 30
    after = deliver()
    while len(after["headers"]["webhook-signature"].split(" ")) > 1:
        assert time.monotonic() < deadline, "the old secret still signs after its overlap"
        time.sleep(0.1)  # the condition is the overlap's end: a clock, paced, not polled hot
        after = deliver()
    assert verifies(new, after)
    assert not verifies(old, after)

    # Rotating with a value of one's own answers no value, and a secret that does not exist is 404.
    mine = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    assert admin.rotate_secret(secret, overlap_seconds=0, value=mine)["value"] is None
    assert verifies(mine, deliver())
    with pytest.raises(Exception) as missing:
        admin.rotate_secret(f"NO_SUCH_{suffix.upper()}")
    assert getattr(missing.value, "status", None) == 404
