"""A producer as the CloudEvents Python SDK writes one, against a live lethe serve.

The SDK's defaults (an id from uuid4, time now, specversion 1.0), in binary and structured
mode, with ids as upstream systems write them; then the contact is read back through the
API. deploy/testing/schemathesis.sh runs it on the server it fuzzes (LETHE_SERVER,
LETHE_TOKEN). Exit status 0 when Lethe accepted both events and folded them.
"""

import os
import sys
import time
import urllib.parse

import requests
from cloudevents.http import CloudEvent, to_binary, to_structured

SERVER = os.environ["LETHE_SERVER"].rstrip("/")
TOKEN = os.environ["LETHE_TOKEN"]
INSTITUTION, CONTACT = "inst-py", "crm:py-1"


AUTH = {"Authorization": "Bearer " + TOKEN}


def send(mode, event):
    # As the SDK's own examples send: requests.post(url, headers=headers, data=body).
    headers, body = mode(event)
    resp = requests.post(SERVER + "/v1/events", headers={**headers, **AUTH}, data=body, timeout=30)
    if resp.status_code != 202:
        sys.exit(f"python SDK, {mode.__name__} {event['type']}: {resp.status_code} {resp.text}")


# Binary mode, the SDK's default: attributes in ce-* headers, data as the body.
send(to_binary, CloudEvent(
    {"type": "lethe.contact.created.v1", "source": "urn:python:crm", "subject": CONTACT, "institution": INSTITUTION},
    {"role": "individual", "created_at": "2019-01-10T09:00:00Z", "profile": {"email": "py@example.org"}},
))
# Structured mode, with an upstream-style id of the waiting list.
send(to_structured, CloudEvent(
    {"type": "lethe.waitlist.joined.v1", "source": "urn:python:booking", "subject": CONTACT, "institution": INSTITUTION},
    {"waitlist_id": "WL/2020/7", "joined_at": "2020-02-01T10:00:00Z"},
))

path = f"/v1/institutions/{INSTITUTION}/contacts/{urllib.parse.quote(CONTACT, safe='')}"
deadline = time.monotonic() + 60
while True:
    resp = requests.get(SERVER + path, headers=AUTH, timeout=30)
    view = resp.json() if resp.status_code == 200 else {}
    if view.get("recency_source", {}).get("type") == "lethe.waitlist.joined.v1":
        break
    if time.monotonic() > deadline:
        sys.exit(f"python SDK: {CONTACT} never folded both events: {resp.status_code} {resp.text}")
    time.sleep(0.05)
if not view["recency"].startswith("2020-02-01"):
    sys.exit(f"python SDK: recency {view['recency']}, want the waiting list's 2020-02-01")
print(f"python SDK producer: 2 events (binary, structured) accepted and folded for {CONTACT}")
