"""The report: the evidence of one probe and its likely causes, as text for a person or
as one JSON object for a program."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .causes import MatchedCause
from .evidence import EXIT_STATUS, VERDICT_CONNECTED, Evidence, ReceivedResponse, redact_url


class ProbeReport:
    """The evidence of one probe and the causes it matched, for a person or a program."""

    def __init__(self, evidence: Evidence, causes: list[MatchedCause]) -> None:
        self.evidence = evidence
        self.causes = causes

    @property
    def verdict(self) -> str:
        return self.evidence.verdict

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.verdict]

    @property
    def status(self) -> int | None:
        """The status of the response that decided: the server's, or a refusing proxy's."""
        if self.evidence.response is not None:
            return self.evidence.response.status
        proxy_response = self.evidence.proxy_response
        if proxy_response is not None and proxy_response.status != 200:
            return proxy_response.status
        return None

    @property
    def signature(self) -> str:
        """One line that names what happened, e.g. "HTTP 403 Forbidden: invalid Origin ..."."""
        evidence = self.evidence
        response, proxy_response = evidence.response, evidence.proxy_response
        if response is not None:
            text = f"HTTP {response.status} {response.reason}".rstrip()
            if response.status == 101:
                if evidence.handshake_problems:
                    text += ", invalid: " + ", ".join(evidence.handshake_problems)
                return text
            first_line = response.body_text.strip().split("\n", 1)[0].strip()
            if first_line and "text/html" not in (response.header("Content-Type") or ""):
                text += f": {first_line[:160]}"
            return text
        if proxy_response is not None and proxy_response.status != 200:
            return f"proxy answered HTTP {proxy_response.status} {proxy_response.reason}"
        assert evidence.failure is not None
        failure = evidence.failure
        return f"{failure.stage} failed ({failure.kind}): {failure.message}"

    def to_dict(self) -> dict[str, Any]:
        evidence = self.evidence
        return {
            "url": redact_url(evidence.url),
            "verdict": self.verdict,
            "exit_status": self.exit_status,
            "signature": self.signature,
            "status": self.status,
            "causes": [cause.to_dict() for cause in self.causes],
            "request": evidence.request.to_dict(),
            "response": None if evidence.response is None else evidence.response.to_dict(),
            "proxy": None if evidence.proxy is None else {
                "url": redact_url(evidence.proxy),
                "request": None if evidence.proxy_request is None
                else evidence.proxy_request.to_dict(),
                "response": None if evidence.proxy_response is None
                else evidence.proxy_response.to_dict(),
            },
            "failure": None if evidence.failure is None else evidence.failure.to_dict(),
            "follow_up": None if evidence.follow_up is None else evidence.follow_up.to_dict(),
            "handshake_problems": list(evidence.handshake_problems),
            "tls_version": evidence.tls_version,
            "elapsed_ms": round(evidence.elapsed * 1000, 1),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def render_text(self) -> str:
        evidence = self.evidence
        out: list[str] = []
        uri = evidence.uri
        route = f"through the proxy {redact_url(evidence.proxy)}" if evidence.proxy \
            else "directly"
        tls = ", TLS" if uri.secure else ""
        out.append(f"Probing {redact_url(evidence.url)} ({uri.host}:{uri.port}{tls}, {route}, "
                   f"timeout {evidence.timeout:g} s)")
        out.append("")
        if evidence.proxy_request is not None:
            out.append("Proxy request sent:")
            out += _quoted(evidence.proxy_request.request_line,
                           evidence.proxy_request.display_headers(), "> ")
            if evidence.proxy_response is not None:
                out.append("Proxy response received:")
                out += _quoted_response(evidence.proxy_response)
            out.append("")
        sent = evidence.response is not None or (
            evidence.failure is not None and evidence.failure.stage in ("receive",)
        )
        out.append("Request sent:" if sent else "Request prepared (not sent):")
        out += _quoted(evidence.request.request_line, evidence.request.display_headers(), "> ")
        out.append("")
        if evidence.tls_version:
            out.append(f"TLS: {evidence.tls_version}")
            out.append("")
        if evidence.response is not None:
            response = evidence.response
            out.append(f"Response received after {response.elapsed * 1000:.1f} ms:")
            out += _quoted_response(response)
            out.append("")
        elif evidence.failure is not None:
            out.append(f"No response: {evidence.failure.stage} failed "
                       f"({evidence.failure.kind}): {evidence.failure.message}")
            if evidence.received_prefix:
                out.append(f"    first bytes received: {evidence.received_prefix.hex()}")
            out.append("")
        if evidence.follow_up is not None:
            out.append(f"Follow-up check: {evidence.follow_up.summary}")
            out.append("")
        verdict = self.verdict.upper()
        out.append(f"Verdict: {verdict} (exit status {self.exit_status}): {self.signature}")
        if self.verdict == VERDICT_CONNECTED:
            connected = evidence.response
            assert connected is not None
            details = [
                f"subprotocol {connected.header('Sec-WebSocket-Protocol') or 'none'}",
                f"extensions {connected.header('Sec-WebSocket-Extensions') or 'none'}",
            ]
            out.append("The server accepted the WebSocket handshake (" + "; ".join(details)
                       + "); the probe then closed the connection with 1000.")
            return "\n".join(out) + "\n"
        out.append("")
        if not self.causes:
            out.append("No known cause matches.")
            return "\n".join(out) + "\n"
        out.append("Likely causes, most likely first:")
        for rank, matched in enumerate(self.causes, 1):
            cause = matched.cause
            out.append("")
            out.append(f"{rank}. {cause.title} [{cause.id}, confidence "
                       f"{cause.confidence:.2f}]")
            out += _wrapped("Why: " + matched.root_cause, "   ")
            out.append("   What to change:")
            for text in matched.workarounds:
                out += _bullet(text)
            if matched.dead_ends:
                out.append("   Dead ends (these don't help):")
                for text in matched.dead_ends:
                    out += _bullet(text)
            out += _wrapped("Evidence: " + "; ".join(matched.evidence), "   ")
        return "\n".join(out) + "\n"


def _quoted(first_line: str, headers: Sequence[tuple[str, str]], mark: str) -> list[str]:
    return [f"    {mark}{first_line}"] + [f"    {mark}{n}: {v}" for n, v in headers]


def _quoted_response(response: ReceivedResponse) -> list[str]:
    lines = _quoted(response.status_line, response.headers, "< ")
    body = response.body_text
    if body:
        lines.append("    <")
        excerpt = body.splitlines()
        for line in excerpt[:40]:
            lines.append(f"    < {line}")
        if len(excerpt) > 40 or response.body_truncated:
            lines.append("    < [... body truncated]")
    return lines


def _wrapped(text: str, indent: str, width: int = 96) -> list[str]:
    """Wrap prose; lines that start with spaces (config snippets) stay as written."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        if paragraph.startswith(" ") or len(indent) + len(paragraph) <= width:
            lines.append(indent + paragraph)
            continue
        current = ""
        for word in paragraph.split(" "):
            if current and len(indent) + len(current) + 1 + len(word) > width:
                lines.append(indent + current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        lines.append(indent + current)
    return lines


def _bullet(text: str) -> list[str]:
    lines = _wrapped(text, "       ")
    lines[0] = "     - " + lines[0][7:]
    return lines
