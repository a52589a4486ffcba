"""Identifiers in requests: parsed into stored keys, with field-level problems."""

from __future__ import annotations

from common.grpc_errors import FieldProblem
from common.identifiers import InvalidEmailError, hash_email
from common.values import Identifier, IdentifierType
from convtrack.common.v1 import common_pb2

_QUERY_TYPES = {
    common_pb2.IDENTIFIER_TYPE_ANONYMOUS_ID: IdentifierType.ANONYMOUS_ID,
    common_pb2.IDENTIFIER_TYPE_USER_ID: IdentifierType.USER_ID,
    common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256: IdentifierType.EMAIL_SHA256,
    common_pb2.IDENTIFIER_TYPE_PHONE_SHA256: IdentifierType.PHONE_SHA256,
    common_pb2.IDENTIFIER_TYPE_CRM_ID: IdentifierType.CRM_ID,
}


def identifier_key(message: common_pb2.Identifier, field: str, problems: list[FieldProblem]) -> str:
    """The stored key of an identifier in a request ("type:value"); a plain email is
    normalised and hashed. Problems are appended, and "" returned, when it is invalid."""
    value = message.value.strip()
    if not value:
        problems.append(FieldProblem(f"{field}.value", "is required"))
        return ""
    if message.type == common_pb2.IDENTIFIER_TYPE_EMAIL:
        try:
            return Identifier(IdentifierType.EMAIL_SHA256, hash_email(value)).key
        except InvalidEmailError as error:
            problems.append(FieldProblem(f"{field}.value", str(error)))
            return ""
    if message.type not in _QUERY_TYPES:
        problems.append(FieldProblem(f"{field}.type", "is required"))
        return ""
    if message.type in (
        common_pb2.IDENTIFIER_TYPE_EMAIL_SHA256,
        common_pb2.IDENTIFIER_TYPE_PHONE_SHA256,
    ):
        value = value.lower()
    return Identifier(_QUERY_TYPES[message.type], value).key
