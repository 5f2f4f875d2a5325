#!/usr/bin/env python3
"""moto in server mode, with DynamoDB requests taken one at a time.

moto's DynamoDB backend is not safe under concurrent TransactWriteItems: it deep-copies the
tables while other threads write ("dictionary changed size during iteration") and checks
conditions without a lock, so two transactions can both pass `n = :current` and take the
same number. Real DynamoDB serializes conflicting transactions, and our ledger relies on that.
This runs moto's own WSGI application behind a lock for DynamoDB calls only (the
`X-Amz-Target: DynamoDB_…` header); S3, SES, SQS (long polling included) and KMS stay
concurrent.

It also counts the requests it serves by service and operation (`GET /_marketbill/requests`
returns them, `POST /_marketbill/requests/reset` starts again): the benchmark's cost model
prices what a seller run really asked of AWS.

usage: serve.py --host 127.0.0.1 --port PORT
"""
import argparse
import io
import json
import os
import threading
from collections import Counter

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class SerializedDynamoDB:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                # Read the whole response inside the lock: the work happens while iterating.
                body = list(self.app(environ, start_response))
            return body
        return self.app(environ, start_response)


class RequestCounter:
    """Counts requests by `service operation`; DynamoDB transactions also by item."""

    PATH = "/_marketbill/requests"

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.counts = Counter()
        self.bytes_in = Counter()
        self.bytes_out = Counter()

    def classify(self, environ, body):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            prefix, _, op = target.partition(".")
            service = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "TrentService": "kms"}.get(prefix, prefix)
            return service, op
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path.startswith("/v2/email/"):
            return "sesv2", method + " " + path.split("/")[3]
        if path.startswith("/moto-api"):
            return None, None
        return "s3", method

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.PATH):
            with self.lock:
                out = {"requests": dict(self.counts), "bytesIn": dict(self.bytes_in), "bytesOut": dict(self.bytes_out)}
                if environ.get("REQUEST_METHOD") == "POST":
                    # Answers what was counted, then starts again.
                    self.counts.clear()
                    self.bytes_in.clear()
                    self.bytes_out.clear()
            data = json.dumps(out).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = b""
        if length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        service, op = self.classify(environ, body)
        if not service:
            return self.app(environ, start_response)
        answer = list(self.app(environ, start_response))
        key = f"{service} {op}"
        items = 0
        if op == "TransactWriteItems":
            try:
                items = len(json.loads(body).get("TransactItems", []))
            except ValueError:
                items = 0
        with self.lock:
            self.counts[key] += 1
            self.bytes_in[key] += len(body)
            self.bytes_out[key] += sum(len(chunk) for chunk in answer)
            if items:
                self.counts["dynamodb TransactWriteItems.items"] += items
        return answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, RequestCounter(SerializedDynamoDB(app)), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
