#!/usr/bin/env python3
"""Ship log files to CloudWatch Logs: FabulAWS's successor of 1.x's awslogs agent, run on the servers.

Every ``interval`` seconds it reads the lines added to each configured file (a glob) since the position saved
for it, and sends them with PutLogEvents to the log group, in the file's stream, in batches within the API's
limits. A position is saved only once its lines are accepted, so an outage delays lines and loses none (a line
may be sent twice if the process dies between the two). Standard library and boto3 only (Debian's and Ubuntu's
``python3-boto3``), so it needs no virtualenv; FabulAWS uploads this file as it is.

Configuration (JSON): ``log_group``, ``stream`` (``{tag}``, ``{instance_id}``, ``{hostname}``), ``files``
(``path``, ``tag``, ``date_format``), ``region`` and ``endpoint_url`` (None: from the instance's metadata and
the region), ``credentials_file`` (None: boto3's chain, i.e. the instance role), ``state_file``, ``interval``.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import signal
import socket
import sys
import time
import urllib.request
from datetime import datetime

log = logging.getLogger("fabulaws-awslogs")

# PutLogEvents' limits (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html)
EVENT_OVERHEAD = 26  # bytes counted per event on top of its message
MAX_BATCH_BYTES = 1_048_576
MAX_BATCH_EVENTS = 10_000
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
MAX_SPAN_MS = 24 * 3600 * 1000  # the events of one batch span less than 24 hours
READ_LIMIT = 4 * 1_048_576  # bytes read from one file per pass (the rest waits for the next pass)
IMDS = "http://169.254.169.254"


# --- reading ------------------------------------------------------------------------------------------------
def read_lines(path: str, position: dict | None, limit: int = READ_LIMIT) -> tuple[list[str], dict]:
    """The complete lines added to ``path`` since ``position`` ({inode, offset}), and the position after them.

    A new file (another inode: rotated) or a shorter one (truncated) is read from its start, as 1.x's agent
    started at the start of a file; a last line without its newline waits for the next pass, unless it alone
    is longer than an event may be.
    """
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        offset = 0
        if position and position.get("inode") == status.st_ino and position.get("offset", 0) <= status.st_size:
            offset = position["offset"]
        handle.seek(offset)
        data = handle.read(limit)
    end = data.rfind(b"\n") + 1
    if end == 0 and len(data) > MAX_EVENT_BYTES:
        end = len(data)
    lines = [line.decode("utf-8", "replace") for line in data[:end].splitlines()]
    return lines, {"inode": status.st_ino, "offset": offset + end}


def timestamp_of(line: str, date_format: str | None, now_ms: int) -> int:
    """The line's own date (when it starts with one in ``date_format``, local time unless it says), else now."""
    if date_format:
        width = len(datetime.now().strftime(date_format))
        for size in (width, width - 1, width + 1, width - 2, width + 2):
            try:
                moment = datetime.strptime(line[:size], date_format)
            except ValueError:
                continue
            if moment.year == 1900:  # no year in the format (syslog's "%b %d %H:%M:%S")
                moment = moment.replace(year=datetime.now().year)
            return int(moment.timestamp() * 1000)
    return now_ms


# --- sending ------------------------------------------------------------------------------------------------
def batches(events: list[dict]) -> list[list[dict]]:
    """``events`` ({timestamp, message}) in time order, cut into batches PutLogEvents accepts."""
    out: list[list[dict]] = []
    current: list[dict] = []
    size = 0
    for event in sorted(events, key=lambda e: e["timestamp"]):
        data = event["message"].encode("utf-8")
        if len(data) > MAX_EVENT_BYTES:
            event = {**event, "message": data[:MAX_EVENT_BYTES].decode("utf-8", "ignore")}
            data = event["message"].encode("utf-8")
        cost = len(data) + EVENT_OVERHEAD
        if current and (size + cost > MAX_BATCH_BYTES or len(current) >= MAX_BATCH_EVENTS
                        or event["timestamp"] - current[0]["timestamp"] >= MAX_SPAN_MS):
            out.append(current)
            current, size = [], 0
        current.append(event)
        size += cost
    if current:
        out.append(current)
    return out


class Destination:
    """One log group of CloudWatch Logs; creates the group and its streams when they are missing."""

    def __init__(self, client, log_group: str) -> None:
        self.client = client
        self.log_group = log_group
        self.ready: set[str] = set()

    def put(self, stream: str, events: list[dict]) -> None:
        for batch in batches(events):
            self._put(stream, batch)

    def _put(self, stream: str, batch: list[dict]) -> None:
        errors = self.client.exceptions
        if stream not in self.ready:
            self._create(stream)
        try:
            response = self.client.put_log_events(logGroupName=self.log_group, logStreamName=stream, logEvents=batch)
        except errors.ResourceNotFoundException:  # deleted meanwhile
            self.ready.discard(stream)
            self._create(stream)
            response = self.client.put_log_events(logGroupName=self.log_group, logStreamName=stream, logEvents=batch)
        rejected = response.get("rejectedLogEventsInfo")
        if rejected:
            log.warning("%s/%s: CloudWatch Logs rejected some events (too old, too new or expired): %s",
                        self.log_group, stream, rejected)

    def _create(self, stream: str) -> None:
        errors = self.client.exceptions
        for create, arguments in ((self.client.create_log_group, {"logGroupName": self.log_group}),
                                  (self.client.create_log_stream, {"logGroupName": self.log_group, "logStreamName": stream})):
            try:
                create(**arguments)
            except errors.ResourceAlreadyExistsException:
                pass
        self.ready.add(stream)


# --- the instance -------------------------------------------------------------------------------------------
def metadata(path: str, timeout: float = 2.0) -> str:
    """One instance metadata value over IMDSv2."""
    token_request = urllib.request.Request(f"{IMDS}/latest/api/token", method="PUT",
                                           headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    with urllib.request.urlopen(token_request, timeout=timeout) as response:
        token = response.read().decode()
    request = urllib.request.Request(f"{IMDS}/latest/meta-data/{path}", headers={"X-aws-ec2-metadata-token": token})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode().strip()


def client_for(config: dict):
    """A CloudWatch Logs client: the configured region or the instance's; credentials from the configured
    file, else boto3's chain (the instance role)."""
    import boto3  # the one dependency, imported here so ``--help`` works without it

    if config.get("credentials_file"):
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = config["credentials_file"]
    region = config.get("region") or metadata("placement/region")
    session = boto3.session.Session(region_name=region)
    return session.client("logs", endpoint_url=config.get("endpoint_url") or None)


class Shipper:
    """The files of one configuration, their saved positions, and one pass over them."""

    def __init__(self, config: dict, client=None) -> None:
        self.config = config
        self.destination = Destination(client or client_for(config), config["log_group"])
        self.state_file = config["state_file"]
        self.positions: dict[str, dict] = self._load()
        self.names = {"hostname": socket.gethostname()}

    def _load(self) -> dict:
        try:
            with open(self.state_file) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        os.makedirs(os.path.dirname(self.state_file) or ".", exist_ok=True)
        temporary = self.state_file + ".new"
        with open(temporary, "w") as handle:
            json.dump(self.positions, handle)
        os.replace(temporary, self.state_file)

    def stream(self, tag: str) -> str:
        pattern = self.config.get("stream") or "{tag}"
        if "{instance_id}" in pattern and "instance_id" not in self.names:
            try:
                self.names["instance_id"] = metadata("instance-id")
            except OSError:
                self.names["instance_id"] = self.names["hostname"]
        return pattern.format(tag=tag, **self.names)

    def run_once(self) -> int:
        """Send what each file gained; return how many lines were sent. A failure to send raises (positions of
        the files already sent are kept)."""
        sent = 0
        for entry in self.config["files"]:
            for path in sorted(glob.glob(entry["path"])):
                if not os.path.isfile(path):
                    continue
                try:
                    lines, position = read_lines(path, self.positions.get(path))
                except OSError as exc:
                    log.warning("%s: %s", path, exc)
                    continue
                if lines:
                    now_ms = int(time.time() * 1000)
                    events = [{"timestamp": timestamp_of(line, entry.get("date_format"), now_ms), "message": line}
                              for line in lines if line.strip()]
                    if events:
                        self.destination.put(self.stream(entry["tag"]), events)
                    sent += len(events)
                if position != self.positions.get(path):
                    self.positions[path] = position
                    self._save()
        return sent

    def run(self, stopping) -> None:
        """Pass after pass until ``stopping()``; an error waits longer each time (at most a minute)."""
        pause = float(self.config.get("interval", 5))
        delay = pause
        while not stopping():
            try:
                self.run_once()
                delay = pause
            except Exception as exc:  # noqa: BLE001 - logged; the lines are sent on a later pass
                log.warning("sending to CloudWatch Logs failed (retrying in %.0f s): %s", delay, exc)
                delay = min(delay * 2, 60.0)
            deadline = time.monotonic() + delay
            while not stopping() and time.monotonic() < deadline:
                time.sleep(min(0.5, delay))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the JSON configuration FabulAWS wrote")
    parser.add_argument("--once", action="store_true", help="one pass, then exit (non-zero if it failed)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    with open(arguments.config) as handle:
        config = json.load(handle)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    while True:
        try:
            shipper = Shipper(config)
            break
        except Exception as exc:  # noqa: BLE001 - no metadata or no credentials yet at boot: try again
            if arguments.once or stop:
                raise
            log.warning("cannot reach CloudWatch Logs yet (retrying in 10 s): %s", exc)
            time.sleep(10)
    if arguments.once:
        log.info("sent %d lines", shipper.run_once())
        return 0
    log.info("shipping %d file patterns to %s", len(config["files"]), config["log_group"])
    shipper.run(lambda: bool(stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
