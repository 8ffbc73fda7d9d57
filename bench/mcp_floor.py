"""The floor for bench/mcp_bench.py: a raw ASGI app that answers every POST with a canned tools/call result.

Run by the benchmark as `uvicorn bench.mcp_floor:app` (``--floor``): no MCP SDK, no Django, no
database, nothing read from the request but its body. What it takes per call is what uvicorn,
the loopback and the benchmark's own client cost every server alike; the rest of each server's
figure is its own work.
"""

import json

_ANSWER = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {
            "content": [{"type": "text", "text": '{"id": 1, "title": "benchmark task"}'}],
            "structuredContent": {"id": 1, "title": "benchmark task"},
            "isError": False,
        },
    }
).encode()
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_ANSWER)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:  # the whole body, as a server must read it
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _ANSWER})
