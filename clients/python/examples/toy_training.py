"""A toy training loop whose loss diverges: a threshold automation on the average loss fires and
posts to a webhook integration. Run against a server with HERALD_URL and HERALD_KEY set, and
HOOK_URL pointing at something that accepts POSTs.

    python examples/toy_training.py
"""

import math
import os
import random

random.seed(7)  # the same run every time

from herald_client import Herald, OnRunMetric, SendWebhook, metric, project

herald = Herald()
entity_name = herald.whoami()["entity"]
herald.create_integration(name="toy-alerts", kind="webhook", url=os.environ["HOOK_URL"])
herald.create_automation(
    OnRunMetric(project(entity_name, "toy"), metric("loss").mean(5) > 2.0)
    >> SendWebhook("toy-alerts", payload={"run": "${run_name}", "loss": "${metric_value}",
                                          "why": "${metric_condition}"}),
    name="toy-loss-diverged",
)
with herald.run(entity_name, "toy", name="diverging-lr") as run:
    loss = 1.0
    for step in range(200):
        loss *= random.uniform(0.99, 1.03)  # a learning rate that is too high
        run.log({"loss": loss, "log_loss": math.log(loss)}, step=step)
print("done; the automation fired when the 5-step average of the loss passed 2.0")
