#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target from the scenario table and the snapshots.

corpus/wire: every row's request in the text format of `parse_request` (src/lib.rs), and
every row on the REST route again as a gRPC, gRPC-web and gRPC-web-text call.
corpus/grpc_body: the body of each of those calls behind its content-type selector byte.
corpus/snapshot: every snapshot document of the repository.

Run from anywhere; existing corpus files are kept, so a corpus grown by fuzzing stays.
"""

import base64
import datetime
import glob
import hashlib
import json
import os
import urllib.parse

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
GRPC_PATH = "/zitadel.management.v1.ManagementService/GetHumanPhone"
# The selector byte of each content type in fuzz_targets/grpc_body.rs.
VARIANTS = [(0, "application/grpc"), (2, "application/grpc-web"), (4, "application/grpc-web-text")]


def write(target, data):
    folder = os.path.join(FUZZ, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as file:
        file.write(data)


def seconds(date):
    return int(datetime.datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp())


def framed(user_id):
    raw = user_id.encode()
    message = b""
    if raw:
        length, varint = len(raw), b""
        while True:
            byte = length & 0x7F
            length >>= 7
            varint += bytes([byte | (0x80 if length else 0)])
            if not length:
                break
        message = b"\x0a" + varint + raw
    return b"\x00" + len(message).to_bytes(4, "big") + message


def text_request(method, path, headers, body):
    lines = [f"{method} {path}".encode()]
    for name, value in headers:
        lines.append(name.encode() + b": " + value.encode())
    return b"\n".join(lines) + b"\n\n" + body


def route_user_id(method, path):
    prefix, suffix = "/management/v1/users/", "/phone"
    path = path.split("?")[0]
    if method != "GET" or not path.startswith(prefix) or not path.endswith(suffix):
        return None
    raw = path[len(prefix) : -len(suffix)]
    if "/" in raw:
        return None
    try:
        return urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None


def main():
    rows = 0
    for file in sorted(glob.glob(os.path.join(ROOT, "tests", "scenarios", "*.json"))):
        group = json.load(open(file))
        for case in group["cases"]:
            request = case["request"]
            now = seconds(case.get("now", group["now"]))
            headers = [("x-fuzz-now", str(now))]
            for name, values in request.get("headers", {}).items():
                for value in values if isinstance(values, list) else [values]:
                    headers.append((name, value))
            body = request.get("body", "").encode()
            write("wire", text_request(request["method"], request["path"], headers, body))
            rows += 1

            user_id = route_user_id(request["method"], request["path"])
            if user_id is None:
                continue
            kept = [(n, v) for n, v in headers if n != "content-type"]
            for selector, content_type in VARIANTS:
                grpc_body = framed(user_id)
                if content_type.endswith("-text"):
                    grpc_body = base64.b64encode(grpc_body)
                call = kept + [("content-type", content_type)]
                write("wire", text_request("POST", GRPC_PATH, call, grpc_body))
                write("grpc_body", bytes([selector]) + grpc_body)

    snapshots = glob.glob(os.path.join(ROOT, "tests", "snapshots", "*.json"))
    snapshots += glob.glob(os.path.join(ROOT, "host", "data", "*.json"))
    snapshots += glob.glob(os.path.join(ROOT, "host", "tests", "data", "*.json"))
    for path in snapshots:
        write("snapshot", open(path, "rb").read())
    print(f"seeded {rows} rows and {len(snapshots)} snapshots into {os.path.join(FUZZ, 'corpus')}")


if __name__ == "__main__":
    main()
