"""Fault injection: what the emulator does wrong, set by command-line flags or the control endpoint.

A rule applies to the next `count` requests of one endpoint ("*" for every endpoint but the control one):
    error              answer HTTP `status` (default 503)
    throttle           answer 429 with Retry-After `retry_after` seconds (default 1)
    slow               wait `delay` seconds (default 2), then answer normally
    drop               drop the connection (an upload is dropped halfway, before it is accepted)
    drop_after_accept  handle the request (the upload is accepted), then drop the connection unanswered
    slow_after_accept  handle the request (the upload is accepted), wait `delay` seconds, then answer
    sign_in_page       answer 200 with an HTML sign-in page (Microsoft's READMEs: an expired token does that)
Besides the rules: `stuck`, `unregistered_app`, `reject` (every upload fails validation), `unknown_status`
(a status string shown instead of ExtractionComplete), `token_lifetime_seconds`, `step_seconds`, and
Viva disagreeing with the pre-flight: `refuse_tokens` (metadata.json type tokens it treats as unknown),
`refuse_rules` (rule ids whose findings it refuses, warnings too) and `ignore_rules` (rule ids it skips).
Endpoint names: discovery, token, scale_unit, ping, ping_legacy, upload, list, status, status_legacy,
errors, errors_file_ingestion.
"""

from __future__ import annotations

import dataclasses
import difflib
import threading
from typing import Any

from target_viva_insights.catalogue import Rule

ACTIONS = ("error", "throttle", "slow", "drop", "drop_after_accept", "slow_after_accept", "sign_in_page")
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
    "modis_upload",
)
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
DEFAULT_STEP_SECONDS = 1.5


@dataclasses.dataclass(frozen=True)
class Strictness:
    """How far the emulated Viva departs from our pre-flight for one upload.

    Attributes:
        reject: Refuse every upload (stands for a rule only the service checks).
        refuse_tokens: metadata.json type tokens the service treats as unknown.
        refuse_rules: Rule ids whose findings the service refuses, warnings included.
        ignore_rules: Rule ids whose findings the service does not make.
    """

    reject: bool = False
    refuse_tokens: frozenset[str] = frozenset()
    refuse_rules: frozenset[str] = frozenset()
    ignore_rules: frozenset[str] = frozenset()


def known_rule_id(text: str) -> str:
    """`text` when it is a rule id of the catalogue (target_viva_insights/catalogue.py).

    Raises:
        ValueError: Not a rule id; the message suggests the closest one.
    """
    ids = list(Rule._value2member_map_)
    if text in ids:
        return text
    close = difflib.get_close_matches(text, ids, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown rule id {text!r}{hint} (rule ids: {', '.join(ids)})")


@dataclasses.dataclass
class FaultRule:
    """One injected fault: `action` on the next `count` requests of `endpoint` ("*": any but control)."""

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
            elif action in ("slow", "slow_after_accept"):
                rule.delay = float(value)
        return rule

    def spec(self) -> str:
        """The `ACTION:ENDPOINT:COUNT:VALUE` text that `parse` reads back into this rule."""
        value = {
            "error": self.status,
            "throttle": self.retry_after,
            "slow": self.delay,
            "slow_after_accept": self.delay,
        }.get(self.action)
        return f"{self.action}:{self.endpoint}:{self.count}" + ("" if value is None else f":{value}")


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
    # Viva disagreeing with our pre-flight: type tokens it does not know, rule ids it refuses or ignores.
    refuse_tokens: list[str] = dataclasses.field(default_factory=list)
    refuse_rules: list[str] = dataclasses.field(default_factory=list)
    ignore_rules: list[str] = dataclasses.field(default_factory=list)
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
        """Apply a control-endpoint document; keys left out keep their value, lists replace the lists.

        Raises:
            ValueError: A key that is not a behaviour, or a value of the wrong kind.
        """
        unknown = sorted(set(document) - set(BEHAVIOUR))
        if unknown:
            raise ValueError(f"unknown behaviour {', '.join(unknown)}; one of {', '.join(BEHAVIOUR)}")
        with self._lock:
            for name, value in document.items():
                if name == "rules":
                    self.rules = [
                        rule if isinstance(rule, FaultRule) else FaultRule(**rule) for rule in value
                    ]
                elif name in LIST_BEHAVIOUR:
                    if not isinstance(value, list):
                        raise ValueError(f"{name} must be a list of strings")
                    items = [str(item) for item in value]
                    if name in RULE_BEHAVIOUR:
                        items = [known_rule_id(item) for item in items]
                    setattr(self, name, items)
                else:
                    setattr(self, name, type(getattr(self, name))(value))

    def reset(self, document: dict[str, Any]) -> None:
        """Every behaviour back to its default, then `document` applied (the start-up options)."""
        defaults = Faults()
        with self._lock:
            for name in BEHAVIOUR:
                setattr(self, name, getattr(defaults, name))
        self.update(document)

    def strictness(self) -> Strictness:
        """How an upload made now is judged."""
        with self._lock:
            return Strictness(
                reject=self.reject,
                refuse_tokens=frozenset(self.refuse_tokens),
                refuse_rules=frozenset(self.refuse_rules),
                ignore_rules=frozenset(self.ignore_rules),
            )

    def as_json(self) -> dict[str, Any]:
        """The behaviour as the control API shows it (rules used up left out)."""
        with self._lock:
            document = {name: getattr(self, name) for name in BEHAVIOUR if name != "rules"}
            rules = [dataclasses.asdict(rule) for rule in self.rules if rule.count > 0]
        return {
            "rules": rules,
            **{name: list(value) if isinstance(value, list) else value for name, value in document.items()},
        }


BEHAVIOUR = tuple(field.name for field in dataclasses.fields(Faults) if not field.name.startswith("_"))
LIST_BEHAVIOUR = ("refuse_tokens", "refuse_rules", "ignore_rules")
RULE_BEHAVIOUR = ("refuse_rules", "ignore_rules")
