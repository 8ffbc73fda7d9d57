"""The baseline for bench/mcp_bench.py: a bare MCPServer with one trivial tool, same transport settings.

Run by the benchmark as `uvicorn bench.mcp_bare:app`; no Django, no auth, no database.
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


app = server.streamable_http_app(stateless_http=True, json_response=True)
