"""Function URLs in the local cloud: plain HTTP on 127.0.0.1, turned into Lambda's URL events.

``mlops local up`` serves every function that has a FunctionUrlConfig at
``http://127.0.0.1:<port>/function-url/<function name>/<path>``: each request becomes the
version 2.0 payload a Lambda function URL sends (method, path, headers, query string,
body, base64 for binary), the function runs in this process, and its response (status,
headers, body) goes back to the caller. Signing is not checked locally (AWS_IAM on AWS).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mlops_cli.local.stack import ACCOUNT_ID, DeployedStack, LocalFunction, url_target

PATH_PREFIX = "/function-url/"
#: Lambda's limit on a synchronous request payload.
MAX_REQUEST_BYTES = 6 * 1024 * 1024

Invoke = Callable[[LocalFunction, dict[str, Any], str | None], Any]


def url_functions(stack: DeployedStack) -> dict[str, tuple[LocalFunction, str | None]]:
    """Functions of the stack that have a function URL, by function name, with the alias the
    URL is on (None: the unqualified function)."""
    served: dict[str, tuple[LocalFunction, str | None]] = {}
    for logical_id, resource in stack.template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Url":
            function_id, alias = url_target(stack.template, logical_id)
            function = stack.functions[function_id]
            served[function.name] = (function, alias)
    return served


def url_event(
    method: str, raw_path: str, headers: dict[str, str], body: bytes, function: LocalFunction
) -> dict[str, Any]:
    """The event a Lambda function URL (payload format 2.0) sends for this request."""
    parts = urlsplit(raw_path)
    text_body = _is_text(headers.get("content-type", ""))
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "queryStringParameters": dict(parse_qsl(parts.query)) or None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": function.name,
            "domainName": f"{function.name}.lambda-url.local",
            "domainPrefix": function.name,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body.decode("utf-8") if text_body else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not text_body,
    }


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith("text/") or kind in {"application/json", "application/x-www-form-urlencoded", ""}


def serve_function_urls(stack: DeployedStack, invoke: Invoke, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; the caller shuts the server down."""
    functions = url_functions(stack)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def do_PUT(self) -> None:
            self._forward()

        def do_DELETE(self) -> None:
            self._forward()

        def log_message(self, format: str, *args: Any) -> None:
            return  # the function's own logs say what happened

        def _forward(self) -> None:
            name, _, rest = self.path.removeprefix(PATH_PREFIX).partition("/")
            served = functions.get(name) if self.path.startswith(PATH_PREFIX) else None
            if served is None:
                self._reply(
                    404,
                    {"content-type": "application/json"},
                    json.dumps({"message": f"no function URL {self.path}; known: {sorted(functions)}"}),
                )
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._reply(
                    413, {"content-type": "application/json"}, json.dumps({"message": "request too large"})
                )
                return
            body = self.rfile.read(length) if length else b""
            function, alias = served
            event = url_event(self.command, "/" + rest, dict(self.headers.items()), body, function)
            try:
                result = invoke(function, event, alias)
            except Exception as error:
                self._reply(
                    502,
                    {"content-type": "application/json"},
                    json.dumps({"message": f"{type(error).__name__}: {error}"}),
                )
                return
            self._reply(*_response(result))

        def _reply(self, status: int, headers: dict[str, str], body: str | bytes) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            for header, value in headers.items():
                self.send_header(header, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="function-urls", daemon=True).start()
    return server


def _response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """How Lambda turns a function's return value into the URL's HTTP response."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        return int(result["statusCode"]), headers, data
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()
