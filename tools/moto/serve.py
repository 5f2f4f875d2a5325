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

Three costs of moto that real AWS does not have are taken out, moto's answers unchanged:
- `GET /_marketbill/ses/raw` answers the raw MIME of the mails SES was asked to send, read from
  SES's own list. `/moto-api/data.json` gave them too, but by serializing every model of every
  service (each DynamoDB item, each S3 object): 15 to 40 s a call once a test has run 300 orders.
- moto lists its own package folder (a directory read and a stat per entry, some 200 of them)
  on every request, twice, to tell a service name from a host name, under the lock all requests
  share (a fifth of the server's time under cProfile, which inflates small calls; the AWS run of
  3 sellers x 100 orders alone went from 40.4 s to 38.0 s). The folder does not change while
  the server runs; it is listed once.
- A DynamoDB transaction keeps a copy of the items it touches, to put them back if it is
  cancelled. moto deep-copies the whole table for each item of the transaction instead, so
  each write cost time in proportion to everything written before (44 of moto's 48 s of
  transactions in the AWS run of 3 sellers x 100 orders).

usage: serve.py --host 127.0.0.1 --port PORT
"""
import argparse
import copy
import io
import json
import os
import threading
import types
from collections import Counter

import moto.backends
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.ses.models import ses_backends
from werkzeug.serving import run_simple


# moto's own list of its service folders, read once: the installed package does not change
# while the server runs.
_moto_modules = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _moto_modules


# moto's transaction copies each touched table "in case any of the transactions fail" and puts
# the copy back when one does. Here that copy is the table itself (nothing to put back), and
# the items the transaction touches are kept and put back instead.
def _deepcopy_except_tables(value, memo=None):
    if isinstance(value, Table):
        return value
    return copy.deepcopy(value, memo)


dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy_except_tables, copy=copy.copy)
_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _item_key(backend, op):
    """The key of the item an operation of a transaction writes, or None (an unknown table)."""
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None, None
    if "Item" in op:
        attrs = op["Item"]
        if table.hash_key_attr not in attrs:
            return None, None
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None and table.range_key_attr in attrs:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return table.name, key
    key = op.get("Key")
    return (table.name, key) if isinstance(key, dict) else (None, None)


def _transact_write_items(self, transact_items):
    kept = []
    for item in transact_items if isinstance(transact_items, list) else []:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        _, op = next(iter(item.items()))
        if not isinstance(op, dict):
            continue
        name, key = _item_key(self, op)
        if name is None:
            continue
        try:
            current = self.get_item(name, key)
        except Exception:  # a malformed key: moto's own call refuses it below
            continue
        kept.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        # Cancelled: every touched item as it was, the first state of each last.
        for name, key, before in reversed(kept):
            if before is None:
                if self.get_item(name, key) is not None:
                    self.delete_item(name, key)
            else:
                self.put_item(name, before)
        raise


DynamoDBBackend.transact_write_items = _transact_write_items


def sent_raw_mails():
    """The raw MIME of every mail SES (v1 or v2, which shares v1's backend) was asked to send."""
    out = []
    for regions in list(ses_backends.values()):
        for backend in list(regions.values()):
            out.extend(m.raw_data for m in list(backend.sent_messages) if hasattr(m, "raw_data"))
    return out


def json_answer(start_response, value):
    """A 200 answer of our own endpoints, in JSON."""
    data = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


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
        if path == "/_marketbill/ses/raw":
            return json_answer(start_response, sent_raw_mails())
        if path.startswith(self.PATH):
            with self.lock:
                out = {"requests": dict(self.counts), "bytesIn": dict(self.bytes_in), "bytesOut": dict(self.bytes_out)}
                if environ.get("REQUEST_METHOD") == "POST":
                    # Answers what was counted, then starts again.
                    self.counts.clear()
                    self.bytes_in.clear()
                    self.bytes_out.clear()
            return json_answer(start_response, out)
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
