"""Fault injection: what the emulator does wrong, set by command-line flags or the control endpoint.

A rule applies to the next `count` requests of one endpoint ("*" for every endpoint but the control one):
    error              answer HTTP `status` (default 503)
    throttle           answer 429 with Retry-After `retry_after` seconds (default 1)
    slow               wait `delay` seconds (default 2), then answer normally
    drop               drop the connection (an upload is dropped halfway, before it is accepted)
    drop_after_accept  handle the request (the upload is accepted), then drop the connection unanswered
    sign_in_page       answer 200 with an HTML sign-in page (Microsoft's READMEs: an expired token does that)
Besides the rules: `stuck`, `unregistered_app`, `reject` (every upload fails validation), `unknown_status`
(a status string shown instead of ExtractionComplete), `token_lifetime_seconds`, `step_seconds`.
Endpoint names: discovery, token, scale_unit, ping, ping_legacy, upload, list, status, status_legacy,
errors, errors_file_ingestion.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

ACTIONS = ("error", "throttle", "slow", "drop", "drop_after_accept", "sign_in_page")
ENDPOINTS = (
    "discovery",
    "token",
    "scale_unit",
    "ping",
    "ping_legacy",
    "upload",
    "list",
    "status",
    "status_legacy",
    "errors",
    "errors_file_ingestion",
)
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
DEFAULT_STEP_SECONDS = 1.5


@dataclasses.dataclass
class FaultRule:
    action: str
    endpoint: str = "*"
    count: int = 1
    status: int = 503
    retry_after: int = 1
    delay: float = 2.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; one of {', '.join(ACTIONS)}")
        if self.endpoint != "*" and self.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {self.endpoint!r}; one of *, {', '.join(ENDPOINTS)}")

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """`ACTION:ENDPOINT[:COUNT[:VALUE]]`; VALUE is the status, Retry-After or delay of the action."""
        action, endpoint, *rest = spec.split(":")
        rule = cls(action=action, endpoint=endpoint or "*", count=int(rest[0]) if rest else 1)
        if len(rest) > 1:
            value = rest[1]
            if action == "error":
                rule.status = int(value)
            elif action == "throttle":
                rule.retry_after = int(value)
            elif action == "slow":
                rule.delay = float(value)
        return rule


@dataclasses.dataclass
class Faults:
    """The emulator's current behaviour; one instance shared by the server threads, behind a lock."""

    rules: list[FaultRule] = dataclasses.field(default_factory=list)
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    step_seconds: float = DEFAULT_STEP_SECONDS
    stuck: bool = False
    unregistered_app: bool = False
    # Fail validation whatever the data: stands for the rules only the service can check.
    reject: bool = False
    unknown_status: str = ""
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self, endpoint: str) -> FaultRule | None:
        """The first rule matching `endpoint`, consumed once; None when the request runs normally."""
        with self._lock:
            for rule in self.rules:
                if rule.count > 0 and rule.endpoint in ("*", endpoint):
                    rule.count -= 1
                    return dataclasses.replace(rule)
        return None

    def update(self, document: dict[str, Any]) -> None:
        """Apply a control-endpoint document; keys left out keep their value, `rules` replaces the list."""
        with self._lock:
            if "rules" in document:
                self.rules = [FaultRule(**rule) for rule in document["rules"]]
            for name in (
                "token_lifetime_seconds",
                "step_seconds",
                "stuck",
                "unregistered_app",
                "reject",
                "unknown_status",
            ):
                if name in document:
                    setattr(self, name, type(getattr(self, name))(document[name]))

    def reset(self, step_seconds: float, token_lifetime_seconds: int) -> None:
        with self._lock:
            self.rules = []
            self.stuck = False
            self.unregistered_app = False
            self.reject = False
            self.unknown_status = ""
            self.step_seconds = step_seconds
            self.token_lifetime_seconds = token_lifetime_seconds

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [dataclasses.asdict(rule) for rule in self.rules if rule.count > 0],
                "token_lifetime_seconds": self.token_lifetime_seconds,
                "step_seconds": self.step_seconds,
                "stuck": self.stuck,
                "unregistered_app": self.unregistered_app,
                "reject": self.reject,
                "unknown_status": self.unknown_status,
            }
