"""The Sparkplug B payload (``org.eclipse.tahu.protobuf.Payload``) built at runtime.

The message classes are made from a descriptor written here with ``descriptor_pb2`` (field
names, numbers and types as the Eclipse Sparkplug 3.0 specification defines them), so neither
protoc nor a generated module is needed. Only what the bridge reads or writes is declared:
payload timestamp, metrics, seq, uuid, body, and each metric's name, alias, timestamp,
datatype, flags and scalar values. DataSet, Template, metadata, property sets and extension
values are left undeclared on purpose: protobuf skips undeclared fields when parsing, so a
payload carrying them still decodes, and the bridge never maps such metrics to instruments.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "org.eclipse.tahu.protobuf"

_F = descriptor_pb2.FieldDescriptorProto


class DataType(IntEnum):
    """Sparkplug B metric datatypes (specification 3.0, section 6.4.16)."""

    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19


def _field(
    message: Any,
    name: str,
    number: int,
    kind: int,
    *,
    label: int = _F.LABEL_OPTIONAL,
    type_name: str | None = None,
    oneof: int | None = None,
) -> None:
    field = message.field.add()
    field.name, field.number, field.type, field.label = name, number, kind, label
    if type_name is not None:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="jishi/sparkplug_b.proto", package=PACKAGE, syntax="proto2"
    )
    payload = proto.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    _field(metric, "name", 1, _F.TYPE_STRING)
    _field(metric, "alias", 2, _F.TYPE_UINT64)
    _field(metric, "timestamp", 3, _F.TYPE_UINT64)
    _field(metric, "datatype", 4, _F.TYPE_UINT32)
    _field(metric, "is_historical", 5, _F.TYPE_BOOL)
    _field(metric, "is_transient", 6, _F.TYPE_BOOL)
    _field(metric, "is_null", 7, _F.TYPE_BOOL)
    metric.oneof_decl.add(name="value")
    for name, number, kind in (
        ("int_value", 10, _F.TYPE_UINT32),
        ("long_value", 11, _F.TYPE_UINT64),
        ("float_value", 12, _F.TYPE_FLOAT),
        ("double_value", 13, _F.TYPE_DOUBLE),
        ("boolean_value", 14, _F.TYPE_BOOL),
        ("string_value", 15, _F.TYPE_STRING),
        ("bytes_value", 16, _F.TYPE_BYTES),
    ):
        _field(metric, name, number, kind, oneof=0)
    _field(payload, "timestamp", 1, _F.TYPE_UINT64)
    _field(
        payload,
        "metrics",
        2,
        _F.TYPE_MESSAGE,
        label=_F.LABEL_REPEATED,
        type_name=f".{PACKAGE}.Payload.Metric",
    )
    _field(payload, "seq", 3, _F.TYPE_UINT64)
    _field(payload, "uuid", 4, _F.TYPE_STRING)
    _field(payload, "body", 5, _F.TYPE_BYTES)
    payload.extension_range.add(start=6, end=536_870_912)
    return proto


def _payload_class() -> Any:
    # A private pool, so an application that also loads Eclipse Tahu's generated module into
    # the default pool gets no duplicate-symbol conflict.
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))


Payload: Any = _payload_class()
