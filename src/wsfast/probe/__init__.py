"""The handshake probe behind ``python -m wsfast probe``: one opening handshake, explained.

A failed WebSocket handshake usually surfaces as a bare "400 Bad Request" or "did not
receive a valid HTTP response". The probe performs one handshake over a raw socket (TLS
from :mod:`ssl` for ``wss://``), so that it can show exactly what was sent and what came
back, then matches that evidence against the known causes in ``probe_causes.json`` and
ranks them. The causes are data: a new one is a new entry in that file, never new code.

What the probe collects (the fields the causes' conditions read, see the file's ``about``):

* the request as sent, the response as received (status line, headers, a body excerpt)
  or how the attempt failed (stage and kind: DNS, connect, proxy, TLS, receive);
* for a ``101``, what a client must check (RFC 6455 §4.1, client steps 1-6): ``Upgrade``,
  ``Connection``, ``Sec-WebSocket-Accept``, and that the extensions and subprotocol
  selected were offered;
* when the attempt got no HTTP answer, or a ``400`` to a ``ws://`` request, the same
  request over the other transport (plain TCP after a failed TLS handshake, TLS after a
  plain request got nothing): that tells "wss:// to a plain port" from "ws:// to a TLS
  port" without guessing from OpenSSL's error strings alone.

:func:`probe` returns a :class:`ProbeReport`, which renders as text for a person
(:meth:`ProbeReport.render_text`) or as one JSON object (:meth:`ProbeReport.to_dict`).

The package follows those steps, one module each: :mod:`.evidence` (what was observed),
:mod:`.request` (the handshake sent), :mod:`.exchange` (the attempt and the follow-up, and
:func:`probe`), :mod:`.causes` (the catalogue and its matching) and :mod:`.report` (text
and JSON). Everything public is importable from ``wsfast.probe`` itself.
"""

from __future__ import annotations

# Explicit re-exports (``name as name``): ``from wsfast.probe import X`` keeps working for
# every public name the single module had, and mypy --strict accepts it.
from .causes import (
    FIELD_PATTERN as FIELD_PATTERN,
    OPERATORS as OPERATORS,
    TEMPLATE_PATTERN as TEMPLATE_PATTERN,
    Cause as Cause,
    CauseCatalogue as CauseCatalogue,
    CauseCatalogueError as CauseCatalogueError,
    MatchedCause as MatchedCause,
    diagnose_rejection as diagnose_rejection,
    evaluate as evaluate,
    field_value as field_value,
    fill_template as fill_template,
    load_causes as load_causes,
    template_variables as template_variables,
)
from .evidence import (
    CREDENTIAL_HEADERS as CREDENTIAL_HEADERS,
    EXIT_STATUS as EXIT_STATUS,
    MAX_BODY_EXCERPT as MAX_BODY_EXCERPT,
    VERDICT_CONNECTED as VERDICT_CONNECTED,
    VERDICT_REJECTED as VERDICT_REJECTED,
    VERDICT_UNREACHABLE as VERDICT_UNREACHABLE,
    Evidence as Evidence,
    Failure as Failure,
    FollowUp as FollowUp,
    ReceivedResponse as ReceivedResponse,
    SentRequest as SentRequest,
    redact_url as redact_url,
)
from .exchange import (
    BODY_IDLE_TIMEOUT as BODY_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT as DEFAULT_TIMEOUT,
    FOLLOW_UP_TIMEOUT as FOLLOW_UP_TIMEOUT,
    MAX_HEAD_SIZE as MAX_HEAD_SIZE,
    RECEIVED_PREFIX_SIZE as RECEIVED_PREFIX_SIZE,
    TLS_NOT_TLS_REASONS as TLS_NOT_TLS_REASONS,
    check_switching_protocols as check_switching_protocols,
    probe as probe,
)
from .report import ProbeReport as ProbeReport
from .request import (
    build_request_headers as build_request_headers,
    client_extensions_offer as client_extensions_offer,
    parse_header_option as parse_header_option,
)

__all__ = [
    "CauseCatalogue",
    "Evidence",
    "ProbeReport",
    "build_request_headers",
    "load_causes",
    "parse_header_option",
    "probe",
]
