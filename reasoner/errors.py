"""Errors raised by the model side of deepstar.

    ReasonerError                 base of everything below; carries a user-facing message
    ├── ModelNotPrepared          the bundled checkpoint is missing or incomplete
    ├── MissingExtra              an optional dependency group is not installed
    ├── ModelPreparationError     assembling / de-quantizing the GGUF failed
    ├── AdapterError              a LoRA adapter (shipped or a user's) is missing, damaged or misnamed
    ├── ServerError               the local vLLM server could not be started / stopped
    │   └── PortInUse             the requested port is taken by another process
    ├── EndpointUnavailable       the OpenAI-compatible endpoint cannot be reached
    ├── EndpointError             the endpoint answered with an error status
    │   ├── RateLimited           429 after all retries
    │   └── ContextLengthExceeded the prompt does not fit the model's context window
    ├── RequestTimeout            no answer within the configured timeout
    └── BadModelOutput            the model's text cannot be parsed into what was asked for

`reasoner` sits on the bottom floor of the project (see ARCHITECTURE.md), so its
errors do not derive from another package's base; the CLI catches
`ReasonerError` together with the other packages' roots.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "BadModelOutput",
    "ContextLengthExceeded",
    "EndpointError",
    "EndpointUnavailable",
    "MissingExtra",
    "ModelNotPrepared",
    "ModelPreparationError",
    "PortInUse",
    "RateLimited",
    "ReasonerError",
    "RequestTimeout",
    "ServerError",
]


class ReasonerError(Exception):
    """Base of the reasoner's errors. `str(err)` is meant for the user."""


class ModelNotPrepared(ReasonerError):
    pass


class MissingExtra(ReasonerError):
    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"the optional dependency '{module}' is missing: install it with "
            f"`pip install 'deepstar[{extra}]'` (or `pip install -e '.[{extra}]'` in a checkout)"
        )


class ModelPreparationError(ReasonerError):
    pass


class AdapterError(ReasonerError):
    """A LoRA adapter cannot be used: not an adapter, damaged, its card's SHA-256 does not
    match, or its name is taken or invalid. The message names the adapter and the fix."""


class ServerError(ReasonerError):
    def __init__(self, message: str, *, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message + (f"\n--- server log (tail) ---\n{log_tail}" if log_tail else ""))


class PortInUse(ServerError):
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        super().__init__(
            f"port {port} on {host} is already in use by another process; "
            f"pick another with --port or stop what is listening there"
        )


class EndpointUnavailable(ReasonerError):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot reach the model endpoint {url}: {reason}")


class EndpointError(ReasonerError):
    def __init__(self, url: str, status: int, body: str) -> None:
        self.url = url
        self.status = status
        self.body = body
        super().__init__(f"the model endpoint {url} answered {status}: {body[:500]}")


class RateLimited(EndpointError):
    pass


class ContextLengthExceeded(EndpointError):
    pass


class RequestTimeout(ReasonerError):
    def __init__(self, url: str, seconds: float | None) -> None:
        self.url = url
        super().__init__(f"no answer from {url} within {seconds} s")


class BadModelOutput(ReasonerError):
    def __init__(self, message: str, *, text: str = "") -> None:
        self.text = text
        super().__init__(message)
