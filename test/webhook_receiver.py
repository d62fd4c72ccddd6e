#!/usr/bin/env python3
"""test/webhook_receiver.py - a scripted webhook receiver for the TAP tests.

    python3 test/webhook_receiver.py PORT_FILE LOG_FILE CONTROL_FILE

Listens on a free port of 127.0.0.1 (written to PORT_FILE), keeps
connections alive (HTTP/1.1), and logs every request as one JSON line of
LOG_FILE: {"status", "headers", "body"} (a gzip body decompressed).  How it answers is read from
CONTROL_FILE (JSON) at each request:
    status        the answer (default 200)
    fail_first    answer fail_status to this many requests first, then status
    fail_status   (default 503)
    retry_after   seconds, sent as Retry-After with a failure
    retry_after_date  seconds from now, sent as Retry-After in HTTP-date form
    refuse_ids    event ids whose requests get refuse_status (default 400)
    delay         seconds to wait before answering
A change of the control file starts its fail_first count afresh.
"""
import email.utils
import gzip
import http.server
import json
import sys
import threading
import time

port_file, log_file, control_file = sys.argv[1:4]
lock = threading.Lock()
state = {"control": None, "failed": 0}


def event_ids(body):
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    events = doc if isinstance(doc, list) else [doc]
    return [e.get("id") for e in events if isinstance(e, dict)]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = raw.decode()
        try:
            with open(control_file) as f:
                text = f.read()
            control = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            text, control = "", {}
        extra = {}
        with lock:
            if text != state["control"]:
                state["control"], state["failed"] = text, 0
            status = control.get("status", 200)
            if state["failed"] < control.get("fail_first", 0):
                state["failed"] += 1
                status = control.get("fail_status", 503)
            if set(event_ids(body)) & set(control.get("refuse_ids", [])):
                status = control.get("refuse_status", 400)
            if status >= 300 and "retry_after" in control:
                extra["Retry-After"] = str(control["retry_after"])
            if status >= 300 and "retry_after_date" in control:
                extra["Retry-After"] = email.utils.formatdate(
                    time.time() + control["retry_after_date"], usegmt=True)
            with open(log_file, "a") as log:
                log.write(json.dumps({"status": status, "headers": dict(self.headers),
                                      "body": body}) + "\n")
        time.sleep(control.get("delay", 0))
        reply = b"ok" if status < 300 else b"no"
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
