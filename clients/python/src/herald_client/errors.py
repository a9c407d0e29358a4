"""Typed errors: every failed API call raises one, carrying the API's ``code`` and ``message``."""

from __future__ import annotations

from typing import Dict, Type


class HeraldError(Exception):
    """An API call failed. ``status`` is the HTTP status, ``code`` and ``message`` the API's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class InvalidRequest(HeraldError):
    """400: the request is malformed or invalid; ``message`` names the field."""


class Unauthorized(HeraldError):
    """401: no API key, or one that is not valid."""


class Forbidden(HeraldError):
    """403: the key's role may not do this."""


class NotFound(HeraldError):
    """404: no such thing (or not visible to this key)."""


class Conflict(HeraldError):
    """409: a duplicate name, or a thing still in use."""


class TooLarge(HeraldError):
    """413: the request is too large."""


class Refused(HeraldError):
    """422: a well-formed request refused by what its schema cannot state: a name that refers to
    nothing (``MissingReference``), the egress policy, a plugin's config (``PluginRefused``)."""


class MissingReference(Refused):
    """422 ``missing``: a name in the request (a secret, plugin, integration, queue or job) refers
    to nothing that exists; ``message`` names the field."""


class PluginRefused(Refused):
    """422 ``plugin_refused``: the action plugin refused the config."""


class Unavailable(HeraldError):
    """503: the server's storage is unavailable for now; retry later."""


class ConnectionFailed(HeraldError):
    """The server could not be reached."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "connection", message)


_BY_STATUS: Dict[int, Type[HeraldError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: Refused,
    503: Unavailable,
}


_BY_CODE: Dict[str, Type[HeraldError]] = {
    "missing": MissingReference,
    "plugin_refused": PluginRefused,
}


def error_for(status: int, code: str, message: str) -> HeraldError:
    """The typed error for an HTTP status (and, for 422, its code)."""
    if status == 422 and code in _BY_CODE:
        return _BY_CODE[code](status, code, message)
    return _BY_STATUS.get(status, HeraldError)(status, code, message)
