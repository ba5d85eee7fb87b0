"""Instance metadata at 169.254.169.254: IMDSv2 (token PUT, then GET with it) and IMDSv1.

https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
The caller is known by its source address: the instance whose private IP it is.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .network import METADATA_ADDRESS, in_namespace

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"


def children(meta_data: dict[str, str], key: str) -> list[str]:
    """Entries below ``key`` ("placement/" for a directory), like the metadata service lists them."""
    prefix = f"{key}/" if key else ""
    entries = set()
    for path in meta_data:
        if path.startswith(prefix):
            head, slash, _ = path[len(prefix) :].partition("/")
            entries.add(head + slash)
    return sorted(entries)


class MetadataServer:
    """Serves ``lookup(ip) -> (meta-data {path: value}, user data)`` (None: unknown caller) on the metadata address."""

    def __init__(self, lookup: Callable[[str], tuple[dict[str, str], str | None] | None], namespace: str | None = None,
                 address: str = METADATA_ADDRESS, port: int = 80) -> None:
        """``namespace``: the network namespace (the slot's router) whose address it listens on."""
        self.lookup = lookup
        self.namespace = namespace
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (caller ip, expiry)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_PUT(self) -> None:  # noqa: N802
                if self.path != "/latest/api/token":
                    return self.reply(404, "Not Found")
                try:
                    ttl = int(self.headers.get(TTL_HEADER, ""))
                except ValueError:
                    return self.reply(400, "Bad Request")
                if not 1 <= ttl <= 21600:
                    return self.reply(400, "Bad Request")
                token = secrets.token_urlsafe(32)
                server.tokens[token] = (self.client_address[0], time.monotonic() + ttl)
                self.reply(200, token, {TTL_HEADER: str(ttl)})

            def do_GET(self) -> None:  # noqa: N802
                token = self.headers.get(TOKEN_HEADER)
                if token is not None:
                    owner, expiry = server.tokens.get(token, ("", 0.0))
                    if owner != self.client_address[0] or time.monotonic() > expiry:
                        return self.reply(401, "Unauthorized")
                found = server.lookup(self.client_address[0])
                if found is None:
                    return self.reply(404, "Not Found")
                meta_data, user_data = found
                path = self.path.split("?", 1)[0].rstrip("/")
                if path == "/latest/user-data":
                    return self.reply(200, user_data) if user_data is not None else self.reply(404, "Not Found")
                if path != "/latest/meta-data" and not path.startswith("/latest/meta-data/"):
                    return self.reply(404, "Not Found")
                key = path.removeprefix("/latest/meta-data").strip("/")
                if key in meta_data:
                    return self.reply(200, meta_data[key])
                listing = children(meta_data, key)
                return self.reply(200, "\n".join(listing)) if listing else self.reply(404, "Not Found")

            def reply(self, code: int, body: str, headers: dict | None = None) -> None:
                payload = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        self.handler, self.address, self.port = Handler, address, port
        self.httpd: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Bind in the router namespace (its bridge carries the address) and serve in a thread."""

        def bind() -> ThreadingHTTPServer:
            return ThreadingHTTPServer((self.address, self.port), self.handler)

        self.httpd = in_namespace(self.namespace, bind) if self.namespace else bind()
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
