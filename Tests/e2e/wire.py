"""Validation of every message the server writes against the official MCP wire types.

The pinned `mcp` SDK ships `mcp_types`: per-version result models (`validate_server_result`), server
notification models (`parse_server_notification`) and the JSON-RPC envelopes. A `WireLog` is fed
both directions of a conversation and checks each server line against the era and version of the
request it answers.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp_types import jsonrpc, methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

MODERN = "2026-07-28"
META_VERSION = "io.modelcontextprotocol/protocolVersion"


class WireError(AssertionError):
    pass


class WireLog:
    """Tracks client requests and validates server messages as they arrive."""

    def __init__(self) -> None:
        self.requests: dict[Any, list[tuple[str, str]]] = {}  # id -> [(method, version)] in send order
        self.negotiated: str | None = None
        self.validated = 0
        self.server_messages: list[dict] = []

    def client_line(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(msg, dict) or "method" not in msg or "id" not in msg:
            return
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        if msg["method"] == "initialize":
            version = LATEST_HANDSHAKE_VERSION
        elif self.negotiated:
            version = self.negotiated
        else:
            version = meta.get(META_VERSION) or LATEST_HANDSHAKE_VERSION
        if isinstance(msg["id"], (int, str)) and not isinstance(msg["id"], bool):
            self.requests.setdefault(msg["id"], []).append((msg["method"], version))

    def _take(self, id: Any) -> tuple[str | None, str | None]:
        pending = self.requests.get(id)
        if not pending:
            return None, None
        entry = pending.pop(0)
        if not pending:
            del self.requests[id]
        return entry

    def server_line(self, line: bytes) -> dict:
        """Validates one line the server wrote; returns it parsed."""
        text = line.decode("utf-8")  # must be UTF-8
        if "\n" in text.rstrip("\n"):
            raise WireError(f"embedded newline in message: {text!r}")
        msg = json.loads(text)
        envelope = jsonrpc.jsonrpc_message_adapter.validate_python(msg)
        if isinstance(envelope, jsonrpc.JSONRPCRequest):
            raise WireError(f"server sent a request, which this server must never do: {msg}")
        if isinstance(envelope, jsonrpc.JSONRPCNotification):
            version = self.negotiated or MODERN
            methods.parse_server_notification(msg["method"], version, msg.get("params"))
        elif isinstance(envelope, jsonrpc.JSONRPCError):
            if msg["error"]["code"] == jsonrpc.UNSUPPORTED_PROTOCOL_VERSION:
                types.UnsupportedProtocolVersionErrorData.model_validate(msg["error"]["data"])
            if msg["id"] is not None:
                self._take(msg["id"])
        else:
            method, version = self._take(msg["id"])
            if method is None:
                raise WireError(f"response to an id the client never sent (or answered twice): {msg}")
            if method == "initialize":
                self.negotiated = msg["result"]["protocolVersion"]
                if self.negotiated not in HANDSHAKE_PROTOCOL_VERSIONS:
                    raise WireError(f"negotiated an unknown version {self.negotiated}")
                version = self.negotiated
            if version == MODERN:
                if msg["result"].get("resultType") != "complete":
                    raise WireError(f"modern result without resultType complete: {msg}")
                info = msg["result"].get("_meta", {}).get("io.modelcontextprotocol/serverInfo")
                types.Implementation.model_validate(info)
            if (method, version) in methods.SERVER_RESULTS:
                methods.validate_server_result(method, version, msg["result"])
        self.validated += 1
        self.server_messages.append(msg)
        return msg
