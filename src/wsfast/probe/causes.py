"""The causes: the catalogue of known causes (``probe_causes.json``), its conditions
evaluated against the evidence, and the matched causes ranked with their texts filled in."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from ..uri import WebSocketURI
from .evidence import (
    MAX_BODY_EXCERPT,
    VERDICT_CONNECTED,
    Evidence,
    ReceivedResponse,
    SentRequest,
    redact_url,
)

OPERATORS = ("equals", "in", "in_any", "present", "contains", "regex", "gte", "lt")
FIELD_PATTERN = re.compile(
    r"verdict|scheme|status|reason|request\.http_version|response\.http_version"
    r"|response\.body|proxy\.status|proxy\.body|failure\.(?:stage|kind|message)"
    r"|follow_up\.(?:transport|status)|handshake\.problems|received\.prefix"
    r"|(?:response|request|proxy)\.header\.[!#$%&'*+.^_`|~0-9A-Za-z-]+"
)
TEMPLATE_PATTERN = re.compile(r"\{\{(\w+)(?:\|([^}]*))?\}\}")


class CauseCatalogueError(ValueError):
    """The causes file is malformed: says which entry and why."""


def field_value(evidence: Evidence, field: str) -> Any:
    """The value of one evidence field named in a condition, or None when unknown."""
    response, failure, proxy_response = evidence.response, evidence.failure, \
        evidence.proxy_response
    if field == "verdict":
        return evidence.verdict
    if field == "scheme":
        return evidence.scheme
    if field == "status":
        return None if response is None else response.status
    if field == "reason":
        return None if response is None else response.reason
    if field == "response.http_version":
        return None if response is None else response.http_version
    if field == "response.body":
        return None if response is None else response.body_text
    if field.startswith("response.header."):
        return None if response is None else response.header(field[16:])
    if field == "request.http_version":
        return evidence.request.http_version
    if field.startswith("request.header."):
        return evidence.request.header(field[15:])
    if field == "proxy.status":
        return None if proxy_response is None else proxy_response.status
    if field == "proxy.body":
        return None if proxy_response is None else proxy_response.body_text
    if field.startswith("proxy.header."):
        return None if proxy_response is None else proxy_response.header(field[13:])
    if field.startswith("failure."):
        return None if failure is None else getattr(failure, field[8:])
    if field == "follow_up.transport":
        follow_up = evidence.follow_up
        return None if follow_up is None or not follow_up.answered else follow_up.transport
    if field == "follow_up.status":
        return None if evidence.follow_up is None else evidence.follow_up.status
    if field == "handshake.problems":
        return list(evidence.handshake_problems)
    if field == "received.prefix":
        return evidence.received_prefix.hex() or None
    raise CauseCatalogueError(f"unknown evidence field: {field}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


def _leaf_holds(value: Any, operator: str, expected: Any) -> tuple[bool, dict[str, str]]:
    if operator == "present":
        present = value is not None and value != []
        return present == bool(expected), {}
    if value is None:
        return False, {}
    if operator == "equals":
        return _same(value, expected), {}
    if operator == "in":
        return any(_same(value, item) for item in expected), {}
    if operator == "in_any":
        values = value if isinstance(value, list) else [value]
        return any(_same(v, item) for v in values for item in expected), {}
    if operator == "contains":
        if isinstance(value, list):
            return any(_same(v, expected) for v in value), {}
        return str(expected).lower() in str(value).lower(), {}
    if operator == "regex":
        match = re.search(expected, str(value), re.IGNORECASE | re.MULTILINE)
        if match is None:
            return False, {}
        return True, {k: v for k, v in match.groupdict().items() if v is not None}
    if operator in ("gte", "lt"):
        if not isinstance(value, (int, float)):
            return False, {}
        return (value >= expected) if operator == "gte" else (value < expected), {}
    raise CauseCatalogueError(f"unknown operator: {operator}")


def _describe_leaf(field: str, operator: str, expected: Any) -> str:
    words = {"equals": "is", "in": "is one of", "in_any": "includes one of",
             "contains": "contains", "regex": "matches", "gte": ">=", "lt": "<"}
    if operator == "present":
        return f"{field} is {'present' if expected else 'absent'}"
    return f"{field} {words[operator]} {json.dumps(expected)}"


def evaluate(condition: Mapping[str, Any], evidence: Evidence) -> tuple[bool, list[str]]:
    """Whether a condition holds, and the leaves that made it hold (for the report)."""
    if "all" in condition:
        reasons: list[str] = []
        for part in condition["all"]:
            holds, why = evaluate(part, evidence)
            if not holds:
                return False, []
            reasons += why
        return True, reasons
    if "any" in condition:
        for part in condition["any"]:
            holds, why = evaluate(part, evidence)
            if holds:
                return True, why
        return False, []
    if "not" in condition:
        holds, _ = evaluate(condition["not"], evidence)
        if holds:
            return False, []
        return True, [f"not ({_describe_condition(condition['not'])})"]
    field = condition["field"]
    operator = next(op for op in OPERATORS if op in condition)
    holds, _ = _leaf_holds(field_value(evidence, field), operator, condition[operator])
    return holds, [_describe_leaf(field, operator, condition[operator])] if holds else []


def _describe_condition(condition: Mapping[str, Any]) -> str:
    for key, joiner in (("all", " and "), ("any", " or ")):
        if key in condition:
            return joiner.join(f"({_describe_condition(c)})" for c in condition[key])
    if "not" in condition:
        return f"not ({_describe_condition(condition['not'])})"
    operator = next(op for op in OPERATORS if op in condition)
    return _describe_leaf(condition["field"], operator, condition[operator])


def _validate_condition(condition: Any, where: str) -> None:
    if not isinstance(condition, dict):
        raise CauseCatalogueError(f"{where}: a condition must be an object")
    combinators = [key for key in ("all", "any", "not") if key in condition]
    if combinators:
        if len(condition) != 1:
            raise CauseCatalogueError(f"{where}: {combinators[0]} stands alone in its object")
        inner = condition[combinators[0]]
        for i, part in enumerate(inner if combinators[0] != "not" else [inner]):
            _validate_condition(part, f"{where}.{combinators[0]}[{i}]")
        return
    operators = [op for op in OPERATORS if op in condition]
    if set(condition) != {"field", *operators} or len(operators) != 1:
        raise CauseCatalogueError(
            f"{where}: a leaf is {{\"field\": ..., OP: ...}} with one OP among {OPERATORS}"
        )
    if not isinstance(condition["field"], str) or not FIELD_PATTERN.fullmatch(
        condition["field"]
    ):
        raise CauseCatalogueError(f"{where}: unknown field {condition['field']!r}")
    if operators[0] == "regex":
        try:
            re.compile(condition["regex"])
        except re.error as exc:
            raise CauseCatalogueError(f"{where}: bad regex: {exc}") from None
    if operators[0] in ("in", "in_any") and not isinstance(condition[operators[0]], list):
        raise CauseCatalogueError(f"{where}: {operators[0]} takes a list")


@dataclasses.dataclass
class Cause:
    id: str
    title: str
    signature: str
    when: dict[str, Any]
    confidence: float
    root_cause: str
    workarounds: list[str]
    dead_ends: list[str]
    captures: list[dict[str, str]] = dataclasses.field(default_factory=list)
    fallback: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Cause:
        required = {"id", "title", "signature", "when", "confidence", "root_cause",
                    "workarounds", "dead_ends"}
        missing = required - set(data)
        unknown = set(data) - required - {"captures", "fallback"}
        if missing or unknown:
            raise CauseCatalogueError(
                f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}"
            )
        if not 0 <= data["confidence"] <= 1:
            raise CauseCatalogueError(f"{where}: confidence is between 0 and 1")
        _validate_condition(data["when"], f"{where}.when")
        for i, capture in enumerate(data.get("captures", [])):
            _validate_condition(capture, f"{where}.captures[{i}]")
            if "regex" not in capture:
                raise CauseCatalogueError(f"{where}.captures[{i}]: a capture is a regex")
        return cls(**data)


@dataclasses.dataclass
class MatchedCause:
    """A cause that matched the evidence, its texts filled in."""

    cause: Cause
    evidence: list[str]
    root_cause: str
    workarounds: list[str]
    dead_ends: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.cause.id,
            "title": self.cause.title,
            "signature": self.cause.signature,
            "confidence": self.cause.confidence,
            "root_cause": self.root_cause,
            "workarounds": self.workarounds,
            "dead_ends": self.dead_ends,
            "evidence": self.evidence,
        }


def template_variables(evidence: Evidence) -> dict[str, str]:
    """The values that cause texts may quote with {{name}}; absent ones are left out."""
    uri, request, response = evidence.uri, evidence.request, evidence.response
    other_scheme = "ws" if uri.secure else "wss"
    variables: dict[str, Any] = {
        "url": redact_url(evidence.url),
        "other_url": urllib.parse.urlunsplit((other_scheme,) + urllib.parse.urlsplit(
            redact_url(evidence.url))[1:]),
        "scheme": evidence.scheme,
        "other_scheme": other_scheme,
        "host": uri.host,
        "port": uri.port,
        "path": uri.resource_name,
        "timeout": f"{evidence.timeout:g}",
        "origin": request.header("Origin"),
        "sent_key": request.header("Sec-WebSocket-Key"),
        "sent_version": request.header("Sec-WebSocket-Version"),
        "sent_upgrade": request.header("Upgrade"),
        "sent_connection": request.header("Connection"),
        "sent_subprotocols": request.header("Sec-WebSocket-Protocol"),
        "sent_extensions": request.header("Sec-WebSocket-Extensions"),
        "proxy": None if evidence.proxy is None else redact_url(evidence.proxy),
        "problems": ", ".join(evidence.handshake_problems) or None,
        "received_prefix": evidence.received_prefix.hex() or None,
    }
    if evidence.proxy_response is not None:
        variables["proxy_status"] = evidence.proxy_response.status_line
        variables["proxy_authenticate"] = evidence.proxy_response.header("Proxy-Authenticate")
    if response is not None:
        first_line = response.body_text.strip().split("\n", 1)[0].strip()
        variables.update({
            "status": response.status,
            "reason": response.reason,
            "server": response.header("Server"),
            "location": response.header("Location"),
            "www_authenticate": response.header("WWW-Authenticate"),
            "server_versions": response.header("Sec-WebSocket-Version"),
            "allow": response.header("Allow"),
            "retry_after": response.header("Retry-After"),
            "body_first_line": first_line[:200] or None,
            "elapsed_ms": f"{response.elapsed * 1000:.1f}",
        })
        if variables.get("proxy_authenticate") is None:
            variables["proxy_authenticate"] = response.header("Proxy-Authenticate")
    else:
        variables["elapsed_ms"] = f"{evidence.elapsed * 1000:.1f}"
    if evidence.failure is not None:
        variables["failure_message"] = evidence.failure.message
    if evidence.follow_up is not None:
        variables["follow_up"] = evidence.follow_up.summary
    return {key: str(value) for key, value in variables.items() if value is not None}


def fill_template(text: str, variables: Mapping[str, str]) -> str:
    """Replace {{name}} and {{name|fallback}}; an unknown name without fallback stays."""

    def replace(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if name in variables:
            return variables[name]
        return fallback if fallback is not None else match.group(0)

    return TEMPLATE_PATTERN.sub(replace, text)


class CauseCatalogue:
    """The known causes, loaded from JSON, matched against the evidence of a probe."""

    def __init__(self, causes: Sequence[Cause]) -> None:
        ids = [cause.id for cause in causes]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise CauseCatalogueError(f"duplicate cause ids: {sorted(duplicates)}")
        self.causes = list(causes)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CauseCatalogue:
        if not isinstance(data.get("causes"), list):
            raise CauseCatalogueError("the file has no \"causes\" list")
        return cls([Cause.from_dict(entry, f"causes[{i}] ({entry.get('id', '?')})")
                    for i, entry in enumerate(data["causes"])])

    def rank(self, evidence: Evidence) -> list[MatchedCause]:
        """The causes matching the evidence, most likely first; none when connected."""
        if evidence.verdict == VERDICT_CONNECTED:
            return []
        base = template_variables(evidence)
        matched: list[MatchedCause] = []
        fallbacks: list[MatchedCause] = []
        for cause in self.causes:
            holds, why = evaluate(cause.when, evidence)
            if not holds:
                continue
            variables = dict(base)
            for capture in cause.captures:
                _, groups = _leaf_holds(field_value(evidence, capture["field"]), "regex",
                                        capture["regex"])
                variables.update(groups)
            entry = MatchedCause(
                cause=cause,
                evidence=why,
                root_cause=fill_template(cause.root_cause, variables),
                workarounds=[fill_template(text, variables) for text in cause.workarounds],
                dead_ends=[fill_template(text, variables) for text in cause.dead_ends],
            )
            (fallbacks if cause.fallback else matched).append(entry)
        # sorted() is stable: equal confidences keep the file's order.
        ranked = sorted(matched, key=lambda entry: -entry.cause.confidence)
        return ranked or fallbacks


def load_causes(path: str | os.PathLike[str] | None = None) -> CauseCatalogue:
    """Load the causes shipped in the package, or those of another file."""
    if path is None:
        text = resources.files("wsfast").joinpath("probe_causes.json").read_text("utf-8")
    else:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    return CauseCatalogue.from_json(json.loads(text))


@functools.lru_cache(maxsize=1)
def _shipped_causes() -> CauseCatalogue:
    return load_causes()


def diagnose_rejection(uri: WebSocketURI, request: Any, response: Any) -> str | None:
    """The likely cause of a handshake rejected with ``response``, for a person to read.

    For the PEP 678 note of the client's :exc:`~wsfast.exceptions.InvalidStatus`: the same
    causes as ``python -m wsfast probe``, matched against the request the client sent and the
    response it received (:class:`~wsfast.http11.Request` and
    :class:`~wsfast.http11.Response`). :obj:`None` when no known cause matches.
    """
    scheme = "wss" if uri.secure else "ws"
    url = f"{scheme}://{uri.host}:{uri.port}{uri.resource_name}"
    headers = [] if request is None else list(request.headers.raw_items())
    path = uri.resource_name if request is None else request.path
    body = bytes(response.body or b"")
    evidence = Evidence(
        url=url,
        uri=uri,
        timeout=0.0,
        request=SentRequest(f"GET {path} HTTP/1.1", headers),
        response=ReceivedResponse(
            status_line=f"HTTP/1.1 {response.status_code} {response.reason_phrase}",
            http_version="HTTP/1.1",
            status=response.status_code,
            reason=response.reason_phrase,
            headers=list(response.headers.raw_items()),
            body=body[:MAX_BODY_EXCERPT],
            body_truncated=len(body) > MAX_BODY_EXCERPT,
        ),
    )
    causes = _shipped_causes().rank(evidence)
    if not causes or causes[0].cause.fallback:
        return None
    cause = causes[0]
    lines = [f"Likely cause: {cause.root_cause}"]
    lines += [f"What to change: {text}" for text in cause.workarounds[:2]]
    lines.append(f"More: python -m wsfast probe {redact_url(url)}")
    return "\n".join(lines)
