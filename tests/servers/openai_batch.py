"""OpenAI's Files and Batch APIs on the local test server (``/v1/files``, ``/v1/batches``).

:class:`OpenAIBatchServer` is an :class:`~servers.openai_compat.OpenAICompatServer`
that also takes a JSONL upload (multipart, ``purpose=batch``), creates a batch
from it, moves it ``validating`` -> ``in_progress`` -> ``completed`` one step per
status request (``steps`` sets how many), answers every line with the same
script as Chat Completions, and serves the output and error files, as the spec
(shared/specs/openai-openapi.yaml) describes them. Tests count ``uploads``,
``created`` and ``batch_bodies`` to see that nothing was sent twice.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from servers.openai_compat import (
    Completion,
    ErrorReply,
    OpenAICompatServer,
    RawReply,
    RecordedRequest,
    render_completion,
)

__all__ = ["OpenAIBatchServer"]


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, Any]
    created_at: int
    status: str = "validating"
    polls: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})

    def wire(self) -> dict[str, Any]:
        done = self.status == "completed"
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "errors": None,
            "input_file_id": self.input_file_id, "completion_window": "24h", "status": self.status,
            "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": self.created_at, "in_progress_at": self.created_at if self.polls else None,
            "expires_at": self.created_at + 86400, "finalizing_at": None,
            "completed_at": int(time.time()) if done else None, "failed_at": None, "expired_at": None,
            "cancelling_at": None, "cancelled_at": None, "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }  # fmt: skip


class OpenAIBatchServer(OpenAICompatServer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps = 2
        """Status requests before a batch is completed (validating, then in progress)."""
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, _Batch] = {}
        self.uploads = 0
        self.created = 0
        self.batch_bodies: list[dict[str, Any]] = []
        self._ids = 0
        self._batch_lock = threading.RLock()

    def reset(self) -> None:
        super().reset()
        with self._batch_lock:
            self.files.clear()
            self.batches.clear()
            self.uploads = self.created = 0
            self.batch_bodies.clear()
        self.steps = 2

    def _new_id(self, prefix: str) -> str:
        with self._batch_lock:
            self._ids += 1
            return f"{prefix}-{self._ids:06d}"

    # -- routing -----------------------------------------------------------

    def route(self, handler: Any, request: RecordedRequest, path: str) -> bool:
        prefix = self.prefix
        parts = path[len(prefix) :].strip("/").split("/") if path.startswith(prefix + "/") else []
        if parts[:1] == ["files"]:
            if request.method == "POST" and len(parts) == 1:
                self._upload(handler, request)
            elif request.method == "GET" and len(parts) == 3 and parts[2] == "content" and parts[1] in self.files:
                handler._send(200, self.files[parts[1]][1], "application/jsonl")
            elif request.method == "GET" and len(parts) == 2 and parts[1] in self.files:
                handler._json(200, self._file_object(parts[1]))
            else:
                handler._error(ErrorReply(404, f"No such File object: {'/'.join(parts[1:])}", "invalid_request_error"))
            return True
        if parts[:1] == ["batches"]:
            if request.method == "POST" and len(parts) == 1:
                self._create(handler, request)
            elif request.method == "GET" and len(parts) == 1:
                with self._batch_lock:
                    listed = [batch.wire() for batch in reversed(self.batches.values())]
                first, last = (listed[0]["id"], listed[-1]["id"]) if listed else (None, None)
                handler._json(
                    200, {"object": "list", "data": listed, "first_id": first, "last_id": last, "has_more": False}
                )
            elif request.method == "GET" and len(parts) == 2 and parts[1] in self.batches:
                handler._json(200, self._advance(self.batches[parts[1]]).wire())
            else:
                handler._error(ErrorReply(404, f"No such Batch object: {'/'.join(parts[1:])}", "invalid_request_error"))
            return True
        return False

    def _file_object(self, file_id: str) -> dict[str, Any]:
        name, content = self.files[file_id]
        return {
            "id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
            "filename": name, "purpose": "batch", "status": "processed",
        }  # fmt: skip

    def _upload(self, handler: Any, request: RecordedRequest) -> None:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            handler._error(ErrorReply(400, "expected multipart/form-data", "invalid_request_error"))
            return
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
        )
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
        if fields.get("purpose", (None, b""))[1] != b"batch" or "file" not in fields:
            handler._error(ErrorReply(400, "'file' and purpose 'batch' are required", "invalid_request_error"))
            return
        file_id = self._new_id("file")
        self.files[file_id] = (fields["file"][0] or "upload.jsonl", fields["file"][1])
        with self._batch_lock:
            self.uploads += 1
        handler._json(200, self._file_object(file_id))

    def _create(self, handler: Any, request: RecordedRequest) -> None:
        body = request.json or {}
        if body.get("input_file_id") not in self.files or body.get("endpoint") != "/v1/chat/completions":
            handler._error(ErrorReply(400, "invalid input_file_id or endpoint", "invalid_request_error"))
            return
        batch = _Batch(
            id=self._new_id("batch"), input_file_id=body["input_file_id"], endpoint=body["endpoint"],
            metadata=body.get("metadata") or {}, created_at=int(time.time()),
        )  # fmt: skip
        with self._batch_lock:
            self.batches[batch.id] = batch
            self.created += 1
        handler._json(200, batch.wire())

    def _advance(self, batch: _Batch) -> _Batch:
        """One status request: one step closer to done; the last step runs every request."""
        with self._batch_lock:
            if batch.status == "completed":
                return batch
            batch.polls += 1
            if batch.polls < self.steps:
                batch.status = "in_progress"
                lines = self.files[batch.input_file_id][1].splitlines()
                batch.counts = {"total": len(lines), "completed": batch.polls * len(lines) // self.steps, "failed": 0}
                return batch
        self._run(batch)
        return batch

    def _run(self, batch: _Batch) -> None:
        output: list[bytes] = []
        failures: list[bytes] = []
        for number, raw in enumerate(self.files[batch.input_file_id][1].splitlines(), start=1):
            line = json.loads(raw)
            body = line["body"]
            self.batch_bodies.append(body)
            reply = self.next_reply(RecordedRequest("POST", "/v1/chat/completions", {}, json.dumps(body).encode()))
            request_id = f"req_{batch.id}_{number}"
            if isinstance(reply, Completion):
                status, payload = 200, render_completion(reply, body.get("model", ""), self.flavor)
            elif isinstance(reply, ErrorReply):
                status, payload = reply.status, reply.body()
            else:
                assert isinstance(reply, RawReply)
                status, payload = reply.status, {"error": {"message": reply.body.decode(), "type": "server_error"}}
            result = {
                "id": f"batch_req_{number}", "custom_id": line["custom_id"],
                "response": {"status_code": status, "request_id": request_id, "body": payload}, "error": None,
            }  # fmt: skip
            (output if status == 200 else failures).append(json.dumps(result).encode())
        with self._batch_lock:
            if output:
                batch.output_file_id = self._new_id("file")
                self.files[batch.output_file_id] = ("output.jsonl", b"\n".join(output) + b"\n")
            if failures:
                batch.error_file_id = self._new_id("file")
                self.files[batch.error_file_id] = ("errors.jsonl", b"\n".join(failures) + b"\n")
            batch.counts = {"total": len(output) + len(failures), "completed": len(output), "failed": len(failures)}
            batch.status = "completed"
