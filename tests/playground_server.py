"""A real ``descend serve`` in a child process, for the playground's tests: started on a free port, stopped
with Ctrl-C (SIGINT) as a person stops it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Served:
    url: str
    process: subprocess.Popen

    def get(self, path: str, **query: Any) -> tuple[int, Any]:
        """(status, JSON body) of a GET request."""
        url = self.url.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


@contextmanager
def serve(*args: str) -> Iterator[Served]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "descend", "serve", "--port", "0", "--no-browser", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()  # the server prints its address once it listens
        found = re.search(r"http://\S+/", line)
        if found is None:
            process.kill()
            raise RuntimeError(f"descend serve did not start: {line!r} {process.stderr.read()!r}")
        yield Served(found.group(0), process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 20
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if process.poll() is None:
                process.kill()
