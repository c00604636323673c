"""CloudEvents 1.0 over Kafka: an :class:`Envelope` to a record value and headers, and back.

Out: binary content mode (README: "Event contracts"). The value is the message as JSON (see
:mod:`momentum.contracts.serialization`); the headers are, in this order:

================== ==========================================================================
``ce_specversion`` ``1.0``
``ce_id``          the message id (a UUID, canonical lower-case form)
``ce_type``        :func:`message_type_name` of the message class
``ce_source``      ``envelope.source``, the producing service's URN (``/app_domain/app-domain``)
``ce_time``        ``envelope.created`` as RFC 3339 UTC with microseconds
                   (``2024-05-01T12:00:00.000000Z``)
``content-type``   ``application/json``
``ce_tenantid``    ``envelope.tenant_id``, when set (extension attribute ``tenantid``)
``ce_correlationid`` / ``ce_causationid``  when set (extensions ``correlationid``,
                   ``causationid``)
``ce_attempts``    ``envelope.attempts`` in decimal, only when it is not 1 (extension
                   ``attempts``: a record re-published for a retry says how often it was tried)
``ce_traceparent`` / ``ce_tracestate``  from ``envelope.headers["traceparent"/"tracestate"]``
                   (the Distributed Tracing extension)
================== ==========================================================================

Every other envelope header is written as a plain Kafka header, name and UTF-8 value as is;
a header whose name is one of the above is left out (the envelope's own value wins). No
``ce_subject`` is written: the subject a consumer would filter on is the partition key, which
is already the Kafka record key.

In: binary mode (a ``ce_specversion`` header) or structured mode (``content-type:
application/cloudevents+json``, the event as one JSON object with ``data`` or
``data_base64``). A record without ``ce_specversion`` whose content type is JSON or absent
and whose value is a JSON object with a ``specversion`` member is read as structured too: the
CloudEvents SDK's v1 Kafka binding writes structured events that way. Unknown attributes
and extensions are kept in ``envelope.headers`` as ``ce_<name>`` (so re-encoding writes them
back unchanged), other Kafka headers under their own name. An ``id`` that is not a UUID
(allowed by CloudEvents) becomes the name-based UUID ``uuid5(NAMESPACE_URL, f"{source}#{id}")``:
stable, so inbox de-duplication keeps working.

Failures raise :class:`MessageDecodeError` subclasses whose ``reason`` is machine-usable:
``invalid-cloudevent``, ``unsupported-specversion``, ``unsupported-content-type``,
``unknown-type`` (consumers skip these), ``invalid-json`` (also for payloads beyond the
parser's bounds: a number such as ``1e10000000``, nesting deeper than the recursion limit)
and ``schema-mismatch``; never another exception.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from momentum.contracts import serialization
from momentum.contracts.envelope import TRACE_HEADERS as TRACE_HEADERS  # re-exported
from momentum.contracts.envelope import (
    Envelope,
    Origin,
    inbound_envelope,
    uuid_from_int,
)
from momentum.contracts.errors import (
    InvalidCloudEventError,
    InvalidJsonError,
    MessageEncodeError,
    UnknownCloudEventTypeError,
    UnknownMessageTypeError,
    UnsupportedContentTypeError,
    UnsupportedSpecVersionError,
)
from momentum.contracts.message_types import MessageTypeRegistry, message_type_name
from momentum.contracts.serialization import DEFAULT_CASING, Casing

Headers = list[tuple[str, bytes]]
"""Kafka record headers as confluent-kafka takes them."""

InboundHeaders = Iterable[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]
"""Kafka record headers as a client returns them (a list of pairs, or a dict)."""

SPEC_VERSION: Final = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"
STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
PREFIX: Final = "ce_"
TENANT: Final = "tenantid"
CORRELATION: Final = "correlationid"
CAUSATION: Final = "causationid"
ATTEMPTS: Final = "attempts"

_SPEC_HEADER: Final = (f"{PREFIX}specversion", SPEC_VERSION.encode())
_CONTENT_TYPE_HEADER: Final = ("content-type", JSON_CONTENT_TYPE.encode())
_ID: Final = f"{PREFIX}id"
_TIME: Final = f"{PREFIX}time"
_TENANT: Final = PREFIX + TENANT
_CORRELATION: Final = PREFIX + CORRELATION
_CAUSATION: Final = PREFIX + CAUSATION
_ATTEMPTS: Final = PREFIX + ATTEMPTS
_CORE: Final = frozenset({"specversion", "id", "type", "source", "time", "datacontenttype"})
_KNOWN: Final = _CORE | {TENANT, CORRELATION, CAUSATION, ATTEMPTS, *TRACE_HEADERS}
_RESERVED: Final = frozenset({"content-type", *(PREFIX + name for name in _KNOWN)})
_JSON_MEDIA: Final = re.compile(r"(application|text)/([a-z0-9.+-]+\+)?json", re.IGNORECASE)
_MAX_CACHED_SOURCES: Final = 1024
_HEADER_ATTRIBUTES: Final = {PREFIX + name: name for name in _KNOWN}

# --- encoding ----------------------------------------------------------------------------------

Writer = Callable[[Envelope, str, "str | None"], tuple[bytes, Headers]]
"""``write(envelope, message_id, source)`` -> ``(value, headers)`` for one class and casing."""

NewMessageWriter = Callable[[Any, str, "str | None"], tuple[bytes, Headers]]
"""``write(message, message_id, tenant_id)`` -> ``(value, headers)`` of a new message.

One class, casing, source and creation time (:func:`new_message_writer`).
"""

_WRITERS: dict[tuple[type, str], Writer] = {}
_SOURCES: dict[str, tuple[str, bytes]] = {}
_TYPE: Final = f"{PREFIX}type"
_last_second: tuple[int, bytes] = (-1, b"")
"""The last whole second formatted: ``(seconds, b"2024-05-01T12:00:00.%06dZ")``."""


def _source_header(source: str) -> tuple[str, bytes]:
    header = (f"{PREFIX}source", source.encode())
    if len(_SOURCES) < _MAX_CACHED_SOURCES:
        _SOURCES[source] = header
    return header


def rfc3339(created: float) -> bytes:
    """POSIX seconds as RFC 3339 UTC with microseconds: ``2024-05-01T12:00:00.250000Z``."""
    seconds = int(created)
    micros = round((created - seconds) * 1_000_000)
    last = _last_second
    if seconds == last[0] and 0 <= micros < 1_000_000:
        return last[1] % micros
    return _rfc3339(created, seconds, micros)


def _rfc3339(created: float, seconds: int, micros: int) -> bytes:
    """:func:`rfc3339` past its cached second (a new second, a carry, before 1970)."""
    global _last_second
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    if seconds < 0 or micros < 0:  # before 1970: not worth a fast path
        stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="microseconds")
        return stamp.replace("+00:00", "Z").encode()
    template = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + b".%06dZ"
    _last_second = (seconds, template)
    return template % micros


_last_time: tuple[float, tuple[str, bytes]] = (-1.0, (_TIME, b""))
"""The last ``ce_time`` header written and the ``created`` it is for."""
_tenant_headers: dict[str, tuple[str, bytes]] = {}
_MAX_CACHED_TENANTS: Final = 4096


def _time_header(created: float) -> tuple[float, tuple[str, bytes]]:
    global _last_time
    seconds = int(created)
    micros = round((created - seconds) * 1_000_000)
    last = _last_second
    if seconds == last[0] and 0 <= micros < 1_000_000:
        stamp = last[1] % micros
    else:
        stamp = _rfc3339(created, seconds, micros)
    entry = _last_time = (created, (_TIME, stamp))
    return entry


def _tenant_header(tenant: str) -> tuple[str, bytes]:
    header = (_TENANT, tenant.encode())
    if len(_tenant_headers) >= _MAX_CACHED_TENANTS:
        _tenant_headers.clear()
    _tenant_headers[tenant] = header
    return header


def record_writer(cls: type, casing: Casing = DEFAULT_CASING) -> Writer:
    """The cached :data:`Writer` of ``cls`` in ``casing`` (what :func:`encode_with_id` runs).

    Everything that does not depend on the instance is decided once per class: the payload
    serializer, the ``ce_type`` header, the constant headers. Raises
    :class:`MessageEncodeError` when the class cannot be serialized.
    """
    found = _WRITERS.get((cls, casing))
    if found is None:
        found = _WRITERS[(cls, casing)] = _writer(cls, casing)
    return found


def _payload_writers(
    cls: type, casing: Casing
) -> tuple[Callable[..., bytes] | None, Callable[[Any], bytes]]:
    """``(to_json, encode_checked)``: the fast serializer of ``cls`` and the checked one.

    ``to_json`` is ``None`` when the class has no fast serializer; ``encode_checked``
    raises :class:`MessageEncodeError`.
    """
    codec = serialization.codec(cls, casing)
    return codec.serializer(), codec.encode


def _type_header(cls: type) -> tuple[str, bytes]:
    return (_TYPE, message_type_name(cls).encode())


def _writer(cls: type, casing: Casing) -> Writer:
    to_json, encode_checked = _payload_writers(cls, casing)
    type_header = _type_header(cls)
    spec, content_type = _SPEC_HEADER, _CONTENT_TYPE_HEADER
    sources = _SOURCES

    def write(envelope: Envelope, message_id: str, source: str | None) -> tuple[bytes, Headers]:
        message = envelope.message
        if to_json is None:
            value = encode_checked(message)
        else:
            try:
                value = to_json(message, by_alias=True)
            except Exception:
                value = encode_checked(message)  # raises the typed error (or succeeds alike)
        producer = envelope.source or source
        if not producer:
            raise MessageEncodeError(
                f"{cls.__qualname__}: the envelope has no source (the producing service's "
                "URN, CloudEvents `source`); set Envelope.source or pass source=",
                message_type=cls,
            )
        created = envelope._created
        time_header = _last_time
        if created != time_header[0]:  # else: the same instant (a publish_many batch)
            time_header = _time_header(created)
        headers: Headers = [
            spec,
            (_ID, message_id.encode()),
            type_header,
            sources.get(producer) or _source_header(producer),
            time_header[1],
            content_type,
        ]
        tenant = envelope.tenant_id
        if tenant is not None:
            headers.append(_tenant_headers.get(tenant) or _tenant_header(tenant))
        if envelope.correlation_id is not None:
            headers.append((_CORRELATION, envelope.correlation_id.encode()))
        if envelope.causation_id is not None:
            headers.append((_CAUSATION, envelope.causation_id.encode()))
        if envelope.attempts != 1:
            headers.append((_ATTEMPTS, str(envelope.attempts).encode()))
        if envelope.headers:
            _append_headers(headers, envelope.headers)
        return value, headers

    return write


def new_message_writer(
    cls: type, source: str, created: float, casing: Casing = DEFAULT_CASING
) -> NewMessageWriter:
    """What :func:`record_writer` writes for the envelope of a new message, without one.

    A new message is what a service's root bus publishes: ``write(message, message_id,
    tenant_id)`` gives the record of ``Envelope(message, message_id=..., tenant_id=...,
    source=source, created=created)`` (no correlation, causation or other headers; first
    attempt), header for header, at the cost of the payload and three headers: the type,
    source and time headers are written once here. ``bus.publish_many`` makes one per class
    and batch.

    Raises:
        MessageEncodeError: The class cannot be serialized, or ``source`` is empty.
    """
    if not source:
        raise MessageEncodeError(
            f"{cls.__qualname__}: no source (the producing service's URN, CloudEvents "
            "`source`) for new messages",
            message_type=cls,
        )
    to_json, encode_checked = _payload_writers(cls, casing)
    spec, type_header, content_type = _SPEC_HEADER, _type_header(cls), _CONTENT_TYPE_HEADER
    source_header = _SOURCES.get(source) or _source_header(source)
    time_header = _time_header(created)[1]
    tenants = _tenant_headers

    def write(message: Any, message_id: str, tenant: str | None) -> tuple[bytes, Headers]:
        if to_json is None:
            value = encode_checked(message)
        else:
            try:
                value = to_json(message, by_alias=True)
            except Exception:
                value = encode_checked(message)  # raises the typed error (or succeeds alike)
        headers: Headers = [
            spec,
            (_ID, message_id.encode()),
            type_header,
            source_header,
            time_header,
            content_type,
        ]
        if tenant is not None:
            headers.append(tenants.get(tenant) or _tenant_header(tenant))
        return value, headers

    return write


def encode(
    envelope: Envelope, *, casing: Casing = DEFAULT_CASING, source: str | None = None
) -> tuple[bytes, Headers]:
    """The Kafka record value and headers of ``envelope`` in CloudEvents binary mode.

    Args:
        envelope: The envelope to write; its message id is generated here if still unset.
        casing: Property casing of the JSON payload.
        source: Service URN used when ``envelope.source`` is not set.

    Returns:
        ``(value, headers)``; the record key (the partition key) is the caller's business.

    Raises:
        MessageEncodeError: The message cannot be written, or there is no source.
    """
    return encode_with_id(envelope, envelope.message_id_text, casing=casing, source=source)


def encode_with_id(
    envelope: Envelope,
    message_id: str,
    *,
    casing: Casing = DEFAULT_CASING,
    source: str | None = None,
) -> tuple[bytes, Headers]:
    """:func:`encode` for a caller that already has ``str(envelope.message_id)``.

    A transport needs that text as well (a record's id, or its key when the event has no
    partition key); formatting it once saves a UUID formatting per record.
    """
    write = _WRITERS.get((type(envelope.message), casing))
    if write is None:
        write = record_writer(type(envelope.message), casing)
    return write(envelope, message_id, source)


def _append_headers(headers: Headers, extra: Mapping[str, str]) -> None:
    for name, text in extra.items():
        lower = name.lower()
        if lower in TRACE_HEADERS:
            headers.append((PREFIX + lower, text.encode()))
        elif lower not in _RESERVED:
            headers.append((name, text.encode()))


# --- decoding ----------------------------------------------------------------------------------


def _text(name: str, raw: bytes | str | None) -> str | None:
    try:
        if type(raw) is bytes:
            return raw.decode()
        if raw is None or isinstance(raw, str):
            return raw
        return bytes(raw).decode()
    except UnicodeDecodeError:
        raise InvalidCloudEventError(
            f"header {name!r} is not valid UTF-8", attribute=name.removeprefix(PREFIX)
        ) from None


def _split_headers(
    headers: InboundHeaders | None,
) -> tuple[dict[str, str], str | None, dict[str, str]]:
    """``(ce attributes by name, content type, other headers)``."""
    attributes: dict[str, str] = {}
    plain: dict[str, str] = {}
    content_type: str | None = None
    if headers is None:
        return attributes, content_type, plain
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, raw in pairs:
        attribute = _HEADER_ATTRIBUTES.get(name)  # fast path: the names momentum writes
        if attribute is None:
            lower = name.lower()
            if lower == "content-type":
                content_type = _text(name, raw)
                continue
            if not lower.startswith(PREFIX):
                if raw is not None:
                    plain[name] = (
                        raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
                    )
                continue
            attribute = lower[len(PREFIX) :]
        text = _text(name, raw)
        if text is not None:
            attributes[attribute] = text
    return attributes, content_type, plain


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _check_json_content(content_type: str | None) -> None:
    if content_type is None or content_type == JSON_CONTENT_TYPE:
        return
    if not _JSON_MEDIA.fullmatch(_media_type(content_type)):
        raise UnsupportedContentTypeError(
            f"data content type {content_type!r} is not JSON; momentum reads JSON data only",
            attribute="datacontenttype",
        )


def _required(attributes: Mapping[str, Any], name: str) -> str:
    value = attributes.get(name)
    if not isinstance(value, str) or not value:
        state = "missing" if value is None else f"invalid ({value!r})"
        raise InvalidCloudEventError(
            f"CloudEvents attribute {name!r} is {state}; it must be a non-empty string",
            attribute=name,
        )
    return value


def _message_id(event_id: str, source: str) -> uuid.UUID:
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{event_id}")


def _created(attributes: Mapping[str, Any]) -> float | None:
    stamp = attributes.get("time")
    if stamp is None:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        raise InvalidCloudEventError(
            f"CloudEvents attribute 'time' is not an RFC 3339 timestamp: {stamp!r}",
            attribute="time",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _attempts(attributes: Mapping[str, Any]) -> int:
    raw = attributes.get(ATTEMPTS)
    if raw is None:
        return 1
    try:
        attempts = int(raw)
    except (TypeError, ValueError):
        attempts = 0
    if attempts < 1 or isinstance(raw, bool):
        raise InvalidCloudEventError(
            f"extension attribute 'attempts' must be a positive integer, got {raw!r}",
            attribute=ATTEMPTS,
        )
    return attempts


def _extension_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _resolve(registry: MessageTypeRegistry, type_name: str) -> type:
    try:
        return registry.resolve(type_name)
    except UnknownMessageTypeError as exc:
        raise UnknownCloudEventTypeError(str(exc), type_name=type_name) from None


def _check_spec(attributes: Mapping[str, Any]) -> None:
    version = _required(attributes, "specversion")
    if version != SPEC_VERSION:
        raise UnsupportedSpecVersionError(
            f"CloudEvents specversion {version!r} is not supported (only {SPEC_VERSION!r})",
            attribute="specversion",
        )


def decode(
    value: bytes | bytearray | memoryview | str | None,
    headers: InboundHeaders | None,
    registry: MessageTypeRegistry,
    *,
    origin: Origin | None = None,
) -> Envelope:
    """The envelope carried by a Kafka record in CloudEvents binary or structured mode.

    Args:
        value: The record value.
        headers: The record headers (pairs or a mapping; values bytes, str or ``None``).
        registry: Resolves ``ce_type`` to the message class.
        origin: Where the record was read from, stored on the envelope.

    Raises:
        MessageDecodeError: A subclass saying why, with a ``reason`` code (see the module).
            Nothing else: a payload nesting too deeply or holding a number out of range is
            an :class:`InvalidJsonError` too, never a ``RecursionError`` or a
            ``decimal.InvalidOperation``.
    """
    try:
        if type(headers) is list and type(value) is bytes:
            envelope = _decode_common(value, headers, registry, origin)
            if envelope is not None:
                return envelope
        return _decode_general(value, headers, registry, origin)
    except RecursionError:
        raise InvalidJsonError(
            "the record nests arrays or objects deeper than the recursion limit"
        ) from None
    except ArithmeticError as exc:  # decimal.InvalidOperation, OverflowError
        raise InvalidJsonError(f"the record holds a number out of range ({exc!r})") from None


def _decode_general(
    value: bytes | bytearray | memoryview | str | None,
    headers: InboundHeaders | None,
    registry: MessageTypeRegistry,
    origin: Origin | None,
) -> Envelope:
    """:func:`decode` of any record (binary or structured mode, any header shape)."""
    attributes, content_type, plain = _split_headers(headers)
    if "specversion" in attributes:
        _check_spec(attributes)
        cls = _resolve(registry, _required(attributes, "type"))
        _required(attributes, "id")
        _required(attributes, "source")
        _check_json_content(content_type)
        if value is None:
            value = b""
        message = serialization.codec(cls).decode(value)
        return _envelope(message, attributes, plain, origin)
    media = _media_type(content_type) if content_type else ""
    if media == STRUCTURED_CONTENT_TYPE:
        return _decode_structured(value, plain, registry, origin)
    if media.startswith("application/cloudevents"):
        raise UnsupportedContentTypeError(
            f"content type {content_type!r} is not supported (batches are not read)",
            attribute="datacontenttype",
        )
    sniffed = _sniff_structured(value, content_type)
    if sniffed is None:
        raise InvalidCloudEventError(
            "record is not a CloudEvent: no ce_specversion header (binary mode) and content-type "
            f"{content_type!r} is not {STRUCTURED_CONTENT_TYPE!r} (structured mode)",
            attribute="specversion",
        )
    return _decode_structured(sniffed, plain, registry, origin)


# --- decoding: the fast path ---------------------------------------------------------------------

_COMMON_HEADERS: Final = frozenset(
    {"content-type", *(PREFIX + name for name in _KNOWN - {"datacontenttype"})}
)
_SPEC_BYTES: Final = SPEC_VERSION.encode()
_JSON_BYTES: Final = JSON_CONTENT_TYPE.encode()
_TRACE_ATTRIBUTES: Final = {PREFIX + name: name for name in TRACE_HEADERS}
_TRACEPARENT: Final = PREFIX + "traceparent"
_TRACESTATE: Final = PREFIX + "tracestate"
_SECONDS: Final = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_seconds_cache: tuple[bytes, int] = (b"", 0)


def _fast_message_id(event_id: str, source: str) -> uuid.UUID:
    """:func:`_message_id`, cheaper for hexadecimal ids (same result as ``uuid.UUID``)."""
    digits = event_id.replace("-", "")
    if len(digits) == 32:  # what uuid.UUID(event_id) parses, with the same int()
        try:
            return uuid_from_int(int(digits, 16))
        except ValueError:
            pass
    return _message_id(event_id, source)


def _fast_created(stamp: bytes) -> float | None:
    """``ce_time`` as momentum writes it (``...T12:00:00.250000Z``) in POSIX seconds.

    ``None`` when it has another shape (the caller then parses it in full). The value is
    exactly what ``datetime.fromisoformat(stamp).timestamp()`` gives.
    """
    global _seconds_cache
    if len(stamp) != 27 or stamp[26] != 0x5A or stamp[19] != 0x2E:  # "Z", "."
        return None
    fraction = stamp[20:26]
    if not fraction.isdigit():
        return None
    prefix = stamp[:19]
    cached = _seconds_cache
    if cached[0] == prefix:
        seconds = cached[1]
    else:
        if not _SECONDS.fullmatch(prefix):
            return None
        try:
            moment = datetime.fromisoformat(prefix.decode())
        except ValueError:  # out of range: a month 13, a 25th hour...
            return None
        seconds = int(moment.replace(tzinfo=UTC).timestamp())
        _seconds_cache = (prefix, seconds)
    return (seconds * 1_000_000 + int(fraction)) / 1_000_000


def _decode_common(
    value: bytes,
    headers: list[tuple[str, bytes | str | None]],
    registry: MessageTypeRegistry,
    origin: Origin | None,
) -> Envelope | None:
    """The envelope of a record as momentum writes it, or ``None`` for any other record.

    Binary mode with only the headers momentum writes, every value ``bytes``, spec version
    ``1.0`` and a JSON (or no) content type. Anything else returns ``None`` and goes through
    the general path, which also says what is wrong; this path only raises what the general
    one would raise for the same record (unknown type, payload errors, bad ``attempts``).
    """
    try:
        found: dict[str, Any] = dict(headers)
    except (TypeError, ValueError):
        return None
    if found.get("ce_specversion") != _SPEC_BYTES or not _COMMON_HEADERS.issuperset(found):
        return None
    if len(found) != len(headers):  # repeated names
        return None
    # A null value needs no check of its own: every header above is read below, and a null
    # one reads as absent (as the general path reads it) or sends the record there.
    content_type = found.get("content-type")
    if content_type is not None and content_type != _JSON_BYTES:
        return None
    try:
        type_name = found["ce_type"].decode()
        event_id = found["ce_id"].decode()
        source = found["ce_source"].decode()
        stamp = found.get(_TIME)
        tenant = found.get(_TENANT)
        correlation = found.get(_CORRELATION)
        causation = found.get(_CAUSATION)
        attempts = found.get(_ATTEMPTS)
        if tenant is not None:
            tenant = tenant.decode()
        if correlation is not None:
            correlation = correlation.decode()
        if causation is not None:
            causation = causation.decode()
        if attempts is not None:
            attempts = attempts.decode()
        extra: dict[str, str] = {}
        if _TRACEPARENT in found or _TRACESTATE in found:
            for name, raw in found.items():  # in header order, as the general path keeps them
                trace = _TRACE_ATTRIBUTES.get(name)
                if trace is not None:
                    extra[trace] = raw.decode()
        created: float | None = None
        stamp_text: str | None = None
        if stamp is not None:
            created = _fast_created(stamp) if type(stamp) is bytes else None
            if created is None:
                stamp_text = stamp.decode()  # parsed in full below, after the payload
    except (KeyError, AttributeError, UnicodeDecodeError):
        return None  # missing or not bytes: the general path
    if not (type_name and event_id and source):
        return None
    cls = _resolve(registry, type_name)
    message = serialization.decoder(cls)(value)
    return inbound_envelope(
        message,
        _fast_message_id(event_id, source),
        correlation,
        causation,
        tenant,
        extra,
        created if stamp_text is None else _created({"time": stamp_text}),
        1 if attempts is None else _attempts({ATTEMPTS: attempts}),
        source,
        origin,
    )


def _sniff_structured(
    value: bytes | bytearray | memoryview | str | None, content_type: str | None
) -> dict[str, Any] | None:
    """A structured event sent with a JSON (or no) content type, as the v1 SDK does."""
    if not value or (
        content_type is not None and not _JSON_MEDIA.fullmatch(_media_type(content_type))
    ):
        return None
    try:
        event = serialization.parse_json(value)
    except InvalidJsonError:
        return None
    return event if isinstance(event, dict) and "specversion" in event else None


def _decode_structured(
    value: bytes | bytearray | memoryview | str | dict[str, Any] | None,
    plain: dict[str, str],
    registry: MessageTypeRegistry,
    origin: Origin | None,
) -> Envelope:
    if isinstance(value, dict):
        event: Any = value
    else:
        event = serialization.parse_json(value if value is not None else b"")
    if not isinstance(event, dict):
        raise InvalidCloudEventError(
            f"structured CloudEvent must be a JSON object, got {type(event).__name__}"
        )
    _check_spec(event)
    cls = _resolve(registry, _required(event, "type"))
    _required(event, "id")
    _required(event, "source")
    content_type = event.get("datacontenttype")
    if content_type is not None and not isinstance(content_type, str):
        raise InvalidCloudEventError(
            "CloudEvents attribute 'datacontenttype' must be a string",
            attribute="datacontenttype",
        )
    _check_json_content(content_type)
    codec = serialization.codec(cls)
    if "data_base64" in event:
        encoded = event["data_base64"]
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InvalidCloudEventError(
                "CloudEvents member 'data_base64' is not valid base64", attribute="data_base64"
            ) from None
        message = codec.decode(raw)
    else:
        message = codec.decode_value(event.get("data"))
    attributes = {
        name: _extension_text(item)
        for name, item in event.items()
        if name not in ("data", "data_base64") and item is not None
    }
    return _envelope(message, attributes, plain, origin)


def _envelope(
    message: Any, attributes: Mapping[str, str], plain: dict[str, str], origin: Origin | None
) -> Envelope:
    source = attributes["source"]
    headers = plain
    for name, text in attributes.items():
        if name in TRACE_HEADERS:
            headers[name] = text
        elif name not in _KNOWN:
            headers[PREFIX + name] = text
    return Envelope(
        message,
        message_id=_message_id(attributes["id"], source),
        correlation_id=attributes.get(CORRELATION),
        causation_id=attributes.get(CAUSATION),
        tenant_id=attributes.get(TENANT),
        headers=headers,
        created=_created(attributes),
        attempts=_attempts(attributes),
        source=source,
        origin=origin,
    )
