#!/usr/bin/env python3
"""Imports a large snapshot into the database `user-phone serve` is answering from, while
readers keep asking, then kills an import with SIGKILL half-way through.

1. Two generations of one instance are written, each with USERS humans (a million by
   default) besides the demo's users; every human's phone, sequence and change date
   differ between the generations.
2. The first generation is imported, `serve` starts on that database, and READERS threads
   ask for the first, a middle and the last generated human over keep-alive connections
   while the second generation is imported by another process. Every answer must be 200
   and exactly one generation's body; and since an import commits at once, a reader that
   has seen the new generation must never see the old one again.
3. An import of the first generation is started again and killed with SIGKILL once its
   transaction is writing (the write-ahead log grows). The database must then pass
   SQLite's integrity check and still answer every probe with the second generation.

Not for CI: it writes some 700 MB of JSON and takes minutes. Needs a release build:
`cargo build --release -p user-phone`. Usage: scripts/import_under_load.py [USERS]
"""

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "user-phone")
DEMO = os.path.join(ROOT, "host", "data", "demo.json")
ORG = "69629023906488334"
FIRST_ID = 80_000_000_000_000_000
PORT = int(os.environ.get("PORT", "18090"))
READERS = int(os.environ.get("READERS", "4"))
TOKEN = "Bearer demo-bot-token"


def human(n, generation):
    """The n-th generated human of `generation` (0 or 1)."""
    return {
        "id": str(FIRST_ID + n),
        "resourceOwner": ORG,
        "type": "human",
        "state": "active",
        "userName": f"user{n}@acme.example.com",
        "phone": f"+41 {generation + 1}{n:09d}",
        "isPhoneVerified": generation == 1,
        "sequence": 10 + generation,
        "creationDate": "2025-01-01T00:00:00Z",
        "changeDate": f"2025-0{generation + 2}-01T00:00:00.{n % 1000:03d}Z",
    }


def write_generation(path, users, generation):
    """Writes the demo snapshot plus `users` generated humans, streamed to keep memory low."""
    with open(DEMO) as demo:
        document = json.load(demo)
    instance = document["instances"][0]
    head = {key: value for key, value in instance.items() if key != "users"}
    with open(path, "w") as out:
        out.write('{"instances":[{')
        for key, value in head.items():
            out.write(f"{json.dumps(key)}:{json.dumps(value)},")
        out.write('"users":[')
        out.write(",".join(json.dumps(user) for user in instance["users"]))
        for n in range(users):
            out.write(",")
            out.write(json.dumps(human(n, generation), separators=(",", ":")))
        out.write("]}]}")


def expected_body(n, generation):
    """The REST answer for the n-th human of `generation`, as the component shapes it."""
    user = human(n, generation)
    phone = {"phone": user["phone"]}
    if user["isPhoneVerified"]:
        phone["isPhoneVerified"] = True
    details = {
        "sequence": str(user["sequence"]),
        "creationDate": user["creationDate"],
        "changeDate": user["changeDate"].replace(".000Z", "Z"),
        "resourceOwner": ORG,
    }
    return json.dumps({"details": details, "phone": phone}, separators=(",", ":")).encode()


def user_phone(*args, **kwargs):
    return subprocess.run([BINARY, *args], check=True, capture_output=True, **kwargs)


class Reader(threading.Thread):
    """Asks for `probes` in turn until stopped; counts answers per generation and mixes."""

    def __init__(self, probes, stop):
        super().__init__(daemon=True)
        self.probes, self.stop = probes, stop
        self.seen = [0, 0]
        self.problems = []

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        newest = 0
        while not self.stop.is_set():
            for n, bodies in self.probes:
                connection.request(
                    "GET", f"/management/v1/users/{FIRST_ID + n}/phone",
                    headers={"authorization": TOKEN, "host": "localhost"},
                )
                answer = connection.getresponse()
                body = answer.read()
                if answer.status != 200 or body not in bodies:
                    self.problems.append(f"user {n}: {answer.status} {body[:200]!r}")
                    continue
                generation = bodies.index(body)
                self.seen[generation] += 1
                if generation < newest:
                    self.problems.append(f"user {n}: the old generation after the new one")
                newest = max(newest, generation)


def wait_for_server():
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            connection.request("GET", "/")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("import_under_load: the server did not start")


def main():
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    probes_at = [0, users // 2, users - 1]
    probes = [(n, [expected_body(n, 0), expected_body(n, 1)]) for n in probes_at]
    work = tempfile.mkdtemp(prefix="user-phone-import-")
    db = os.path.join(work, "load.db")
    paths = [os.path.join(work, f"generation{g}.json") for g in (0, 1)]

    started = time.monotonic()
    for generation, path in enumerate(paths):
        write_generation(path, users, generation)
    size = os.path.getsize(paths[0]) >> 20
    print(f"snapshots: 2 x {users} generated users, {size} MiB each, "
          f"written in {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    user_phone("import", paths[0], "--db", db)
    print(f"first import into a new database: {time.monotonic() - started:.1f} s")

    server = subprocess.Popen(
        [BINARY, "serve", "--listen", f"127.0.0.1:{PORT}", "--db", db],
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        wait_for_server()
        stop = threading.Event()
        readers = [Reader(probes, stop) for _ in range(READERS)]
        for reader in readers:
            reader.start()
        time.sleep(1)
        started = time.monotonic()
        user_phone("import", paths[1], "--db", db)
        imported = time.monotonic() - started
        time.sleep(1)
        stop.set()
        for reader in readers:
            reader.join()
        old = sum(r.seen[0] for r in readers)
        new = sum(r.seen[1] for r in readers)
        problems = [p for r in readers for p in r.problems]
        print(f"second import under {READERS} readers: {imported:.1f} s; answers: "
              f"{old} old, {new} new, {len(problems)} wrong or mixed")
        for problem in problems[:10]:
            print(f"  {problem}")
        if problems or old == 0 or new == 0:
            sys.exit("import_under_load: readers saw wrong or mixed data, or not both generations")
    finally:
        server.terminate()
        server.wait()

    wal = db + "-wal"
    base = os.path.getsize(wal) if os.path.exists(wal) else 0
    importer = subprocess.Popen([BINARY, "import", paths[0], "--db", db],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while importer.poll() is None:
        if os.path.exists(wal) and os.path.getsize(wal) > base + (64 << 20):
            break
        time.sleep(0.01)
    if importer.poll() is not None:
        sys.exit("import_under_load: the import ended before it could be killed")
    written = (os.path.getsize(wal) - base) >> 20
    importer.send_signal(signal.SIGKILL)
    importer.wait()
    print(f"killed an import with SIGKILL after {written} MiB of its transaction")

    check = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
    wrong = []
    for n, bodies in probes:
        answer = user_phone("get", str(FIRST_ID + n), "--token", "demo-bot-token", "--db", db)
        if answer.stdout != bodies[1]:
            wrong.append(n)
    print(f"after the kill: integrity_check {check}; {len(probes) - len(wrong)} of "
          f"{len(probes)} probes answer the second generation")
    if check != "ok" or wrong:
        sys.exit("import_under_load: the killed import damaged the previous data")
    print("import_under_load: no wrong, mixed or lost answers")


if __name__ == "__main__":
    main()
