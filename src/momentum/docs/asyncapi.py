"""The AsyncAPI 3.0 document of a service: its topics, what it sends and what it receives.

- **Channels** are topics. The address keeps the environment as the parameter ``{env}``
  (``{env}.appdomain.public.cashiers.v1``), listed with the example environments' short
  names; the channel id is the address without it (``appdomain.public.cashiers.v1``).
- **Operations**: one ``send`` per integration event the packages define (a service
  publishes its own integration events), one ``receive`` per integration event they have a
  handler for, with the Kafka consumer group ``{env}.{service}`` in its binding.
- **Messages** carry the wire JSON Schema of their payload (:mod:`momentum.docs.schemas`;
  nested classes under ``components.schemas``), the CloudEvents 1.0 binary-mode headers
  (``ce_type`` fixed to the event's type name), the partition key as the Kafka key binding,
  and an example (payload and headers).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

from momentum.contracts import cloudevents as ce
from momentum.contracts.naming import environment_short_name, kebab_case
from momentum.docs.model import Catalog, EventDoc
from momentum.docs.schemas import X_PYTHON_TYPE, ref_name

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"
_EXAMPLE_ID: Final = "6f9619ff-8b86-4d11-b42d-00c04fc964ff"
_EXAMPLE_TIME: Final = "2024-05-01T12:00:00.000000Z"


def _unique_names(items: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """``key -> name``: the preferred name, else the fallback when two keys would share it."""
    listed = list(dict.fromkeys(items))
    counts = Counter(preferred for _, preferred, _ in listed)
    names = {
        key: preferred if counts[preferred] == 1 else fallback
        for key, preferred, fallback in listed
    }
    clashes = Counter(names.values())
    return {key: name if clashes[name] == 1 else key for key, name in names.items()}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _headers(doc: EventDoc) -> dict[str, Any]:
    p = ce.PREFIX
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode.",
        "required": [
            f"{p}specversion",
            f"{p}id",
            f"{p}type",
            f"{p}source",
            f"{p}time",
            "content-type",
        ],
        "properties": {
            f"{p}specversion": {"type": "string", "const": ce.SPEC_VERSION},
            f"{p}id": {
                "type": "string",
                "format": "uuid",
                "description": "Message id; consumers de-duplicate on it.",
            },
            f"{p}type": {
                "type": "string",
                "const": doc.info.type_name,
                "description": "Wire type name of the event.",
            },
            f"{p}source": {
                "type": "string",
                "format": "uri-reference",
                "description": "URN of the producing service: /{domain_snake_case}/{service-name}.",
            },
            f"{p}time": {
                "type": "string",
                "format": "date-time",
                "description": "When the message was created (RFC 3339, UTC).",
            },
            "content-type": {"type": "string", "const": ce.JSON_CONTENT_TYPE},
            p + ce.TENANT: {"type": "string", "description": "Tenant of the message, when set."},
            p + ce.CORRELATION: {
                "type": "string",
                "description": "Id shared by the messages of one business transaction.",
            },
            p + ce.CAUSATION: {
                "type": "string",
                "description": "Id of the message whose handling caused this one.",
            },
            p + ce.ATTEMPTS: {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "How often the message was tried, when a retry re-published it.",
            },
            **{
                p + name: {
                    "type": "string",
                    "description": f"W3C trace context ({name}), when tracing.",
                }
                for name in ce.TRACE_HEADERS
            },
        },
    }


def _key(doc: EventDoc) -> dict[str, Any]:
    if doc.info.partition_key_method:
        text = "The partition key computed by the event's partition_key()."
    elif doc.partition_key:
        fields = ", ".join(doc.partition_key)
        text = (
            f"The partition key: {fields} (values joined with '|' in this order; UUIDs in "
            f"lower-case canonical form)."
        )
    else:
        text = "The message id (the event has no partition key)."
    return {"type": "string", "description": text}


class _Builder:
    def __init__(self, catalog: Catalog, service: str, partitions: int | None) -> None:
        self.catalog = catalog
        self.service = service
        self.partitions = partitions
        sent = [doc for doc in catalog.events if doc.is_integration and doc.topic and doc.wire]
        received = [doc for doc in catalog.received if doc.topic and doc.wire]
        self.sent = sent
        self.received = received
        self.sent_names = {doc.python_name for doc in sent}
        every = list({doc.python_name: doc for doc in [*sent, *received]}.values())
        self.message_names = _unique_names(
            (doc.python_name, _safe(doc.title), _safe(f"{doc.title}_{doc.version}"))
            for doc in every
        )
        classes: list[tuple[str, str, str]] = []
        for doc in every:
            assert doc.wire is not None
            for name, cls in doc.wire.classes.items():
                classes.append((name, _safe(cls.__qualname__), _safe(name)))
        self.schema_names = _unique_names(classes)
        self.schemas: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        for doc in every:
            self.add_message(doc)

    def add_message(self, doc: EventDoc) -> None:
        assert doc.wire is not None
        local = {
            name: self.schema_names[str(body[X_PYTHON_TYPE])]
            for name, body in doc.wire.defs.items()
            if isinstance(body, Mapping) and X_PYTHON_TYPE in body
        }
        for name, body in doc.wire.defs.items():
            target = local.get(name)
            if target is not None and target not in self.schemas:
                self.schemas[target] = self.rewrite(body, local)
        top = {k: v for k, v in doc.wire.schema.items() if k != "$defs"}
        payload_name = self.schema_names[doc.python_name]
        self.schemas[payload_name] = self.rewrite(top, local)
        description = doc.doc.description or ""
        if doc.doc.deprecated:
            note = f"**Deprecated.** {doc.doc.deprecation}".rstrip()
            description = f"{note}\n\n{description}".strip()
        message: dict[str, Any] = {
            "name": doc.info.type_name,
            "title": doc.title,
            "contentType": ce.JSON_CONTENT_TYPE,
            "headers": _headers(doc),
            "payload": {"$ref": f"#/components/schemas/{payload_name}"},
            "correlationId": {
                "description": "Correlation id of the business transaction.",
                "location": f"$message.header#/{ce.PREFIX}{ce.CORRELATION}",
            },
            "bindings": {"kafka": {"key": _key(doc), "bindingVersion": KAFKA_BINDING_VERSION}},
            "examples": [
                {
                    "name": "example",
                    "headers": self.example_headers(doc),
                    "payload": doc.example,
                }
            ],
        }
        if doc.doc.summary:
            message["summary"] = doc.doc.summary
        if description:
            message["description"] = description
        tags = [{"name": doc.domain}]
        if doc.doc.deprecated:
            tags.append({"name": "deprecated"})
        message["tags"] = tags
        self.messages[self.message_names[doc.python_name]] = message

    def rewrite(self, node: Any, local: Mapping[str, str]) -> Any:
        """A copy of ``node`` whose ``#/$defs/X`` references point into components."""
        if isinstance(node, list):
            return [self.rewrite(item, local) for item in node]
        if not isinstance(node, Mapping):
            return copy.deepcopy(node)
        name = ref_name(node)
        out = {key: self.rewrite(value, local) for key, value in node.items()}
        if name is not None:
            out["$ref"] = f"#/components/schemas/{local.get(name, _safe(name))}"
        return out

    def example_headers(self, doc: EventDoc) -> dict[str, str]:
        top = doc.info.event_type.__module__.split(".")[0]
        service = self.service if doc.python_name in self.sent_names else kebab_case(top)
        return {
            f"{ce.PREFIX}specversion": ce.SPEC_VERSION,
            f"{ce.PREFIX}id": _EXAMPLE_ID,
            f"{ce.PREFIX}type": doc.info.type_name,
            f"{ce.PREFIX}source": f"/{top}/{service}",
            f"{ce.PREFIX}time": _EXAMPLE_TIME,
            "content-type": ce.JSON_CONTENT_TYPE,
        }

    def channel(self, doc: EventDoc) -> str:
        assert doc.topic is not None
        channel_id = doc.topic.removeprefix("{env}.")
        found = self.channels.get(channel_id)
        if found is None:
            shorts = list(
                dict.fromkeys(environment_short_name(env) for env in self.catalog.environments)
            )
            found = {
                "address": doc.topic,
                "title": channel_id,
                "description": f"Kafka topic of {doc.domain} ({doc.scope}).",
                "parameters": {
                    "env": {
                        "description": (
                            "Short name of the environment: development -> dev, names of 4 "
                            "characters or fewer as they are, others cut to 4 (production -> "
                            "prod)."
                        ),
                        "examples": shorts,
                    }
                },
                "messages": {},
            }
            if self.partitions is not None:
                found["bindings"] = {
                    "kafka": {
                        "partitions": self.partitions,
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                }
            self.channels[channel_id] = found
        name = self.message_names[doc.python_name]
        found["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        return channel_id

    def operation(self, doc: EventDoc, action: str) -> None:
        channel_id = self.channel(doc)
        name = self.message_names[doc.python_name]
        operation: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
        }
        verb = "Publishes" if action == "send" else "Handles"
        operation["summary"] = f"{verb} {doc.title}."
        if action == "receive":
            groups = list(
                dict.fromkeys(
                    f"{environment_short_name(env)}.{self.service}"
                    for env in self.catalog.environments
                )
            )
            operation["bindings"] = {
                "kafka": {
                    "groupId": {"type": "string", "enum": groups},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            }
        self.operations[f"{action}{name}"] = operation


def asyncapi_document(
    catalog: Catalog,
    *,
    service: str,
    partitions: int | None = None,
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``service`` built from ``catalog`` (see the module docstring).

    ``service`` is the service name (consumer groups are ``{env}.{service}``); ``partitions``
    goes into the channels' Kafka bindings when given; ``version`` is the document's
    ``info.version``.
    """
    builder = _Builder(catalog, service, partitions)
    for doc in builder.sent:
        builder.operation(doc, "send")
    for doc in builder.received:
        builder.operation(doc, "receive")
    packages = ", ".join(catalog.packages)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{service}",
            "version": version,
            "description": (
                f"Integration events of {packages}, generated by momentum. Topics are "
                f"{{env}}.{{domain}}.{{scope}}.{{topic}}.{{version}}; messages are CloudEvents "
                f"1.0 in Kafka binary mode with JSON data in {catalog.casing} case, keyed by "
                f"their partition key."
            ),
        },
        "defaultContentType": ce.JSON_CONTENT_TYPE,
        "channels": builder.channels,
        "operations": builder.operations,
        "components": {"schemas": builder.schemas, "messages": builder.messages},
    }
