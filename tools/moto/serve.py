#!/usr/bin/env python3
"""moto in server mode, with DynamoDB requests taken one at a time.

moto's DynamoDB backend is not safe under concurrent TransactWriteItems: it deep-copies the
tables while other threads write ("dictionary changed size during iteration") and checks
conditions without a lock, so two transactions can both pass `n = :current` and take the
same number. Real DynamoDB serializes conflicting transactions, and our ledger relies on that.
This runs moto's own WSGI application behind a lock for DynamoDB calls only (the
`X-Amz-Target: DynamoDB_…` header); S3, SES, SQS (long polling included) and KMS stay
concurrent.

usage: serve.py --host 127.0.0.1 --port PORT
"""
import argparse
import os
import threading

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerializedDynamoDB(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
