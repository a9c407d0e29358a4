"""Hooks for the schemathesis run over Herald's API document (see schemathesis.toml)."""

import schemathesis

# `POST /v1/plugins` takes a WebAssembly component as `application/wasm`: bytes, sent as they are.
schemathesis.serializer.alias("application/wasm", "application/octet-stream")
