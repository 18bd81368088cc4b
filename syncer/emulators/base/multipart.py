"""Multipart/form-data bodies: :func:`parse_multipart` splits one into :class:`FormField` parts."""

from __future__ import annotations

import email.message
import email.parser
import email.utils
from dataclasses import dataclass


@dataclass(frozen=True)
class FormField:
    """One part of a multipart/form-data body."""

    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        """The content decoded as UTF-8 (form values, not uploaded files)."""
        return self.content.decode("utf-8", errors="replace")


def parse_multipart(body: bytes, content_type: str) -> list[FormField]:
    """Split a multipart/form-data body into its parts (RFC 7578).

    Written by hand rather than with ``email.parser`` on the whole body because the email parser
    treats part contents as text lines, which is slow for large uploads and fragile for bytes that
    are not ASCII (a CP932 CSV). Only the small part headers go through the email package.
    """
    header = email.message.Message()
    header["Content-Type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise ValueError(f"expected multipart/form-data, got {content_type or 'no Content-Type'}")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart/form-data without a boundary")
    # Every delimiter is preceded by CRLF except the first, hence the CRLF put in front.
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2:
        raise ValueError("multipart body has no parts")
    parts: list[FormField] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts  # the close delimiter: the rest is epilogue
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("multipart part without a header/body separator")
        headers = email.parser.BytesParser().parsebytes(head.lstrip(b" \t").lstrip(b"\r\n"))
        name = _header_param(headers, "name")
        if name is None:
            raise ValueError("multipart part without a name")
        parts.append(
            FormField(
                name=name,
                content=content,
                filename=_header_param(headers, "filename"),
                content_type=headers.get("Content-Type"),
            )
        )
    raise ValueError("multipart body is not terminated by a close delimiter")


def _header_param(headers: email.message.Message, name: str) -> str | None:
    value = headers.get_param(name, header="content-disposition")
    if value is None:
        return None
    return email.utils.collapse_rfc2231_value(value)
