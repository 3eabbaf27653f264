"""Kubernetes' own rules for names, label and annotation keys and values, and ports (apimachinery validation)."""

from __future__ import annotations

import re
from typing import Annotated, Union

from pydantic import AfterValidator

# One DNS label (RFC 1123), unanchored, for patterns that embed it (`authservice.<label>.svc`).
DNS_LABEL_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL = re.compile(rf"^{DNS_LABEL_PATTERN}$")  # namespace names, most object names
DNS_SUBDOMAIN = re.compile(rf"^{DNS_LABEL_PATTERN}(\.{DNS_LABEL_PATTERN})*$")
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def qualified_name_problem(key: str) -> str | None:
    """Why `key` is not a valid label/annotation key, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return f"key {key!r}: the prefix must be a DNS subdomain (lowercase, at most 253 characters)"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"key {key!r}: the name part must be at most 63 characters of [A-Za-z0-9-_.], "
            "starting and ending alphanumeric"
        )
    return None


def label_value_problem(key: str, value: str) -> str | None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return (
            f"value {value!r} of {key!r}: a label value is at most 63 characters of [A-Za-z0-9-_.], "
            "starting and ending alphanumeric"
        )
    return None


def check_annotations(annotations: dict) -> dict:
    """A pydantic validator body: every key a valid annotation key (values are free text)."""
    for key in annotations:
        problem = qualified_name_problem(key)
        if problem:
            raise ValueError(problem)
    return annotations


def check_labels(labels: dict) -> dict:
    """A pydantic validator body: keys and values valid as Kubernetes labels."""
    for key, value in labels.items():
        problem = qualified_name_problem(key) or label_value_problem(key, value)
        if problem:
            raise ValueError(problem)
    return labels


def is_dns_label(text: str) -> bool:
    """A DNS label: lower-case letters, digits and '-', starting and ending alphanumeric (no length check)."""
    return DNS_LABEL.match(text) is not None


def is_dns_subdomain(name: str) -> bool:
    """A DNS subdomain (RFC 1123): dot-separated DNS labels, at most 253 characters."""
    return len(name) <= 253 and DNS_SUBDOMAIN.match(name) is not None


def _port_number(port) -> str:
    text = str(port) if isinstance(port, int) and not isinstance(port, bool) else port
    if not isinstance(text, str) or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("must be a port number (1-65535)")
    return text


def _namespace_name(namespace: str) -> str:
    if not is_dns_label(namespace):
        raise ValueError("must be a namespace name (a DNS label: lower-case letters, digits, '-')")
    return namespace


Port = Annotated[Union[int, str], AfterValidator(_port_number)]  # 443 or "443", kept as "443"
NamespaceName = Annotated[str, AfterValidator(_namespace_name)]
