"""What a CI pipeline does after training: link the new model version into the registry, then
mark it as production once it passed evaluation.

    python examples/ci_promote.py churn v7
"""

import sys

from herald_client import Herald

herald = Herald()
entity_name = herald.whoami()["entity"]
collection, version = sys.argv[1], sys.argv[2]
linked = herald.artifact_linked(entity_name, "models", collection, version,
                                source=f"{entity_name}/train/{collection}:{version}", author="ci")
print(f"linked {collection}:{version}: {linked.matched} automation(s) fired")
promoted = herald.alias_added(entity_name, collection, version, "production", registry="models", author="ci")
print(f"aliased production: {promoted.matched} automation(s) fired")
