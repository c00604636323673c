"""Signed CloudEvents: HMAC-SHA256 over the canonical attributes and the data of a record.

A signing service adds two extension attributes to every binary-mode record it writes:

===================== ==========================================================================
``ce_signature``      lower-case hex of HMAC-SHA256(key, canonical form) (attribute ``signature``)
``ce_signaturekeyid`` the id of the key that signed it (attribute ``signaturekeyid``)
===================== ==========================================================================

The canonical form (version 1) is the bytes ``momentum-ce-hmac-v1`` and a line feed, then the
values of these twelve attributes in this order, each followed by a NUL byte: ``specversion``,
``id``, ``source``, ``type``, ``time``, ``datacontenttype`` (the ``content-type`` header),
``subject``, ``dataschema``, ``tenantid``, ``correlationid``, ``causationid``, ``attempts``
(each the header's bytes; an absent attribute is the single byte ``0xFF``, which no UTF-8
text is: the decoder rejects attributes that are not UTF-8), then the record value (the data)
as it is. No attribute value may contain a NUL (a record with one is rejected, and never
signed), so the form is unambiguous: no value can move into another attribute or into the
data. Trace context
(``ce_traceparent``, ``ce_tracestate``), other extensions and plain headers are not signed:
they may be rewritten on the way (a replay adds ``momentum-replay-group``).

Headers are read as the CloudEvents decoder reads them (names compared lower-cased, the last
non-null value of a name wins), so what is verified is exactly what is decoded.

Keys rotate: a service signs with one key (its id goes on the record) and verifies with
several (id -> key; the signing key is one of them). A verifying service rejects a record
whose signature does not match (:class:`~momentum.contracts.errors.SignatureError`), names
an unknown key (:class:`~momentum.contracts.errors.UnknownSigningKeyError`) or, when
signatures are required, carries none
(:class:`~momentum.contracts.errors.MissingSignatureError`): structured-mode records cannot
be signed here, so they count as unsigned. Keys never appear in ``repr`` or messages.

The HMAC is RFC 2104 over SHA-256 with the key's inner and outer pads hashed once when the
signer is made (``hashlib`` state copies per record; the result is ``hmac.digest``'s, which
the tests check): the one-shot ``hmac`` functions redo that key setup for every record.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from momentum.contracts.errors import (
    ConfigurationError,
    MissingSignatureError,
    SignatureError,
    UnknownSigningKeyError,
)

SIGNATURE: Final = "signature"
"""Extension attribute of the signature (header ``ce_signature``)."""
SIGNATURE_KEY_ID: Final = "signaturekeyid"
"""Extension attribute of the signing key's id (header ``ce_signaturekeyid``)."""
SIGNATURE_HEADER: Final = "ce_" + SIGNATURE
KEY_ID_HEADER: Final = "ce_" + SIGNATURE_KEY_ID
MIN_KEY_BYTES: Final = 16
"""The shortest key accepted (use 32 random bytes or more)."""

_PREAMBLE: Final = b"momentum-ce-hmac-v1\n"
_SIGNED: Final = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "content-type",
    "ce_subject",
    "ce_dataschema",
    "ce_tenantid",
    "ce_correlationid",
    "ce_causationid",
    "ce_attempts",
)
_ABSENT: Final = b"\xff"
_SEPARATORS: Final = len(_SIGNED) - 1
_SLOT: Final = {name: slot for slot, name in enumerate(_SIGNED)}
"""Where a signed header's value goes in the canonical order."""
_NO_SLOTS: Final = [_ABSENT] * len(_SIGNED)
_UNSIGNED: Final = frozenset({"ce_traceparent", "ce_tracestate"})
"""Headers momentum writes that are not signed."""
_KEY_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BLOCK: Final = 64  # SHA-256's block size

Header = tuple[str, bytes]


class _Key:
    """One HMAC-SHA256 key with its inner and outer states hashed (never shown)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        padded = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def signature(self, slots: list[Any], value: bytes) -> bytes:
        """HMAC-SHA256 (lower-case hex) of the canonical form of ``slots`` and ``value``.

        ``slots`` are the values of the signed attributes in their order (absent ones
        :data:`_ABSENT`).

        Raises:
            TypeError: A slot holds ``None`` or text (read the headers in full then).
            SignatureError: An attribute value holds a NUL byte.
        """
        attributes = b"\0".join(slots)
        if attributes.count(b"\0") != _SEPARATORS:
            raise SignatureError("a signed CloudEvents attribute of the record holds a NUL byte")
        inner = self._inner.copy()
        inner.update(_PREAMBLE)
        inner.update(attributes)
        inner.update(b"\0")
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest().encode()

    def __repr__(self) -> str:
        return "<key>"


def canonical_form(found: Mapping[str, bytes], value: bytes) -> bytes:
    """The signed bytes of a record: its attributes ``found`` (by header name) and ``value``.

    Raises:
        SignatureError: An attribute value holds a NUL byte.
    """
    attributes = b"\0".join([found.get(name, _ABSENT) for name in _SIGNED])
    if attributes.count(b"\0") != _SEPARATORS:
        raise SignatureError("a signed CloudEvents attribute of the record holds a NUL byte")
    return _PREAMBLE + attributes + b"\0" + value


Slots = tuple[list[Any], Any, Any]
"""The signed attributes' values in order, the signature and the key id (absent: 0xFF)."""


def _written(headers: Any) -> Slots | None:
    """:data:`Slots` of headers as momentum writes them, in one pass.

    ``None`` when the headers are not a list of such names only (another spelling, a plain
    header): the caller reads them as the decoder does (:func:`_read`). A null or text value
    is kept as it is (the signature of such slots raises ``TypeError``).
    """
    if type(headers) is not list:
        return None
    slots = _NO_SLOTS.copy()
    signature = key_id = _ABSENT
    slot_of = _SLOT.get
    try:
        for name, raw in headers:
            slot = slot_of(name)
            if slot is not None:
                slots[slot] = raw
            elif name == SIGNATURE_HEADER:
                signature = raw
            elif name == KEY_ID_HEADER:
                key_id = raw
            elif name not in _UNSIGNED:
                return None
    except (TypeError, ValueError):  # not (name, value) pairs, or an unhashable name
        return None
    return slots, signature, key_id


def _read(headers: Iterable[tuple[str, bytes | str | None]] | None) -> Slots:
    """:data:`Slots` of any headers, read as the decoder reads them (lower-cased, last non-null)."""
    found = _normalized(headers)
    get = found.get
    return (
        [get(name, _ABSENT) for name in _SIGNED],
        get(SIGNATURE_HEADER, _ABSENT),
        get(KEY_ID_HEADER, _ABSENT),
    )


def _check_key(key_id: str, key: bytes, what: str) -> None:
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigurationError(
            f"{what}: key id {key_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"{what}: the key of id {key_id!r} is shorter than {MIN_KEY_BYTES} bytes; use 32 "
            "random bytes or more (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


class CloudEventSigner:
    """Signs the records a transport writes and verifies those it reads (see the module).

    Args:
        signing_key_id: Id of the key new records are signed with (``None``: not signing).
        signing_key: That key.
        verification_keys: Key id -> key of the keys accepted on records read (the signing
            key is added). Empty and not signing: nothing is verified.
        required: Reject records that carry no signature (else they pass unverified).

    Raises:
        ConfigurationError: A key id is malformed, a key shorter than 16 bytes, only one of
            ``signing_key_id`` and ``signing_key`` is given, the signing key id names another
            verification key, or signatures are required without any key to verify them.
    """

    __slots__ = ("_by_id", "_keys", "_signing", "_signing_id", "_signing_key_id", "required")

    def __init__(
        self,
        signing_key_id: str | None = None,
        signing_key: bytes | None = None,
        verification_keys: Mapping[str, bytes] | None = None,
        *,
        required: bool = False,
    ) -> None:
        if (signing_key_id is None) != (signing_key is None):
            raise ConfigurationError(
                "signing needs both a key id (security.signing_key_id) and its key "
                "(security.signing_key)"
            )
        keys = dict(verification_keys or {})
        for key_id, key in keys.items():
            _check_key(key_id, key, "security.verification_keys")
        self._signing: _Key | None = None
        self._signing_key_id = signing_key_id
        self._signing_id: bytes = b""
        if signing_key_id is not None and signing_key is not None:
            _check_key(signing_key_id, signing_key, "security.signing_key")
            known = keys.get(signing_key_id)
            if known is not None and not hmac.compare_digest(known, signing_key):
                raise ConfigurationError(
                    f"security: verification key {signing_key_id!r} is not the signing key of "
                    "that id; one id names one key"
                )
            keys[signing_key_id] = signing_key
            self._signing = _Key(signing_key)
            self._signing_id = signing_key_id.encode()
        if required and not keys:
            raise ConfigurationError(
                "security.require_signatures is set but no key verifies them: set "
                "security.verification_keys (or a signing key)"
            )
        self._keys = {key_id: _Key(key) for key_id, key in keys.items()}
        self._by_id = {key_id.encode(): made for key_id, made in self._keys.items()}
        self.required = required

    @property
    def signs(self) -> bool:
        """Whether records written are signed."""
        return self._signing is not None

    @property
    def verifies(self) -> bool:
        """Whether records read are verified."""
        return bool(self._keys)

    @property
    def signing_key_id(self) -> str | None:
        """The id of the key records are signed with."""
        return self._signing_key_id

    @property
    def key_ids(self) -> list[str]:
        """The ids of the keys records are verified with, sorted."""
        return sorted(self._keys)

    def sign(self, value: bytes, headers: list[Header]) -> None:
        """Append ``ce_signature`` and ``ce_signaturekeyid`` to ``headers`` of ``value``.

        ``headers`` carry no signature yet (:meth:`signed` replaces one).

        Raises:
            SignatureError: A signed attribute holds a NUL byte.
        """
        key = self._signing
        if key is None:
            return
        written = _written(headers)
        try:
            signature = key.signature((written or _read(headers))[0], value)
        except TypeError:  # a text value
            signature = key.signature(_read(headers)[0], value)
        headers.append((SIGNATURE_HEADER, signature))
        headers.append((KEY_ID_HEADER, self._signing_id))

    def signed(self, value: bytes, headers: Iterable[Header]) -> list[Header]:
        """A copy of ``headers`` with the signature of ``value`` (any earlier one replaced)."""
        copy = [
            (name, raw)
            for name, raw in headers
            if name.lower() not in (SIGNATURE_HEADER, KEY_ID_HEADER)
        ]
        self.sign(value, copy)
        return copy

    def verify(
        self,
        value: bytes | bytearray | memoryview | str | None,
        headers: Iterable[tuple[str, bytes | str | None]] | None,
    ) -> None:
        """Check the signature of a record read (its value and headers as read).

        Raises:
            MissingSignatureError: The record is not signed (nor half) and signatures are
                required.
            UnknownSigningKeyError: It names a key id none of the verification keys has.
            SignatureError: The signature does not match its attributes and data.
        """
        slots, signature, key_id = _written(headers) or _read(headers)
        if type(signature) is not bytes or type(key_id) is not bytes:  # null or text (absent
            slots, signature, key_id = _read(headers)  # is bytes): read them as decoded
        if signature is _ABSENT and key_id is _ABSENT:
            if self.required:
                raise MissingSignatureError(
                    "the record is not signed (no ce_signature header; structured-mode events "
                    "cannot be) and this service requires signed records"
                )
            return
        if signature is _ABSENT or key_id is _ABSENT:
            missing = SIGNATURE_HEADER if signature is _ABSENT else KEY_ID_HEADER
            raise MissingSignatureError(f"the record is signed without its {missing} header")
        key = self._by_id.get(key_id)
        if key is None:
            name = key_id.decode("utf-8", "replace")
            raise UnknownSigningKeyError(
                f"the record is signed with key id {name[:64]!r}, which none of this "
                f"service's verification keys has ({', '.join(self.key_ids)})",
                key_id=name,
            )
        data = value if type(value) is bytes else _bytes(value)
        try:
            expected = key.signature(slots, data)
        except TypeError:  # a null or text value among the signed attributes
            expected = key.signature(_read(headers)[0], data)
        if not hmac.compare_digest(expected, signature):
            name = key_id.decode("utf-8", "replace")
            raise SignatureError(
                f"the record's signature (key id {name!r}) does not match its attributes and "
                "data: it was changed after signing, or signed with another key of that id"
            )

    def __repr__(self) -> str:
        return (
            f"CloudEventSigner(signing_key_id={self._signing_key_id!r}, "
            f"verification_key_ids={self.key_ids!r}, required={self.required!r})"
        )


def _bytes(value: bytes | bytearray | memoryview | str | None) -> bytes:
    if type(value) is bytes:
        return value
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


def _normalized(headers: Iterable[tuple[str, bytes | str | None]] | None) -> dict[str, bytes]:
    normalized: dict[str, bytes] = {}
    if headers is None:
        return normalized
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, raw in pairs:
        if raw is None:
            continue
        normalized[name.lower()] = raw.encode() if isinstance(raw, str) else bytes(raw)
    return normalized
