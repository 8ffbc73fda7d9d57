"""An instant OpenAI-compatible upstream for bench/chat_bench.py: one fixed chat completion.

    python bench/fake_upstream.py PORT [RECORD_FILE]

asyncio streams, HTTP/1.1 keep-alive, no framework: it should cost next to nothing, so what is
measured is the thing in front of it. The first request body carrying ``tools`` is written to
RECORD_FILE (the chat turn's real request, replayed by the direct and LiteLLM measurements).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

REPLY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "You have no tasks due today."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 8, "total_tokens": 1208},
    }
).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "test-model", "object": "model", "owned_by": "bench"}]}).encode()


def _response(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: req_bench\r\n\r\n"
    )
    return head.encode() + body


RECORD: Path | None = None


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global RECORD
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if RECORD is not None and b'"tools"' in body:
                RECORD.write_bytes(body)
                RECORD = None
            writer.write(_response(MODELS if method == "GET" else REPLY))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        RECORD = Path(sys.argv[2])
    asyncio.run(main(int(sys.argv[1])))
