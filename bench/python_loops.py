#!/usr/bin/env python3
"""The benchmark's Python comparisons: the same re-encryption done by a Python loop, on the same rows.

    python_loops.py seed  --dsn DSN --keys FILE --table T [--batch 500] [--commit-every 1000] [--expect N]
    python_loops.py tuned --dsn DSN --keys FILE --table T [--batch 500] [--commit-every 1000] [--expect N]

seed:  what the original CLI (flask secrets reencrypt) did: read a page of rows, decrypt and encrypt each value with the
       `cryptography` package's Fernet, UPDATE the rows one by one, COMMIT every --commit-every rows.
tuned: the same pages and commits, but one UPDATE per page with psycopg2's execute_values
       (UPDATE … FROM (VALUES …)), guarded by the value read as SecretsPS guards it, and counting the rows written.

Both read the key file with tests/interop/secretsps_ref.py (the suite's independent implementation of FORMATS.md) and
page in key order (keyset, never OFFSET). Neither keeps a job row: that only flatters them. At the end every non-NULL
value must be at the active version (and, with --expect, that many rows must have been written), else exit 1.

Prints one line "RESULT {json}" in the shape of the C# scenarios' ScenarioResult: wall seconds of the loop, CPU seconds of
this process, peak resident memory. Exit 2 with a message when psycopg2 is missing (the orchestrator then skips the rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
import secretsps_ref  # noqa: E402  (the path above)

try:
    import psycopg2
    import psycopg2.extras
except ImportError:
    print("psycopg2 is not installed (Debian: apt-get install python3-psycopg2)", file=sys.stderr)
    sys.exit(2)


def reencrypt(keyring: secretsps_ref.KeyRing, stored: str) -> str:
    """Old stored value -> new stored value under the active version, with the cryptography package's Fernet."""
    return secretsps_ref.encrypt_stored(keyring, secretsps_ref.decrypt_stored(keyring, stored))


def pages(cursor, table: str, batch: int):
    last = None
    while True:
        if last is None:
            cursor.execute(f"SELECT id, secret FROM {table} WHERE secret IS NOT NULL ORDER BY id LIMIT %s", (batch,))
        else:
            cursor.execute(f"SELECT id, secret FROM {table} WHERE secret IS NOT NULL AND id > %s ORDER BY id LIMIT %s", (last, batch))
        rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def seed(connection, keyring, table: str, batch: int, commit_every: int) -> int:
    written = since_commit = 0
    with connection.cursor() as read, connection.cursor() as write:
        for rows in pages(read, table, batch):
            for key, value in rows:
                if value.startswith(keyring.active + ":"):
                    continue
                write.execute(f"UPDATE {table} SET secret = %s WHERE id = %s", (reencrypt(keyring, value), key))
                written += write.rowcount
            since_commit += len(rows)
            if since_commit >= commit_every:
                connection.commit()
                since_commit = 0
    connection.commit()
    return written


def tuned(connection, keyring, table: str, batch: int, commit_every: int) -> int:
    written = since_commit = 0
    sql = (f"UPDATE {table} AS target SET secret = v.n FROM (VALUES %s) AS v(k, o, n) "
           "WHERE target.id = v.k AND target.secret = v.o RETURNING target.id")
    with connection.cursor() as read, connection.cursor() as write:
        for rows in pages(read, table, batch):
            updates = [(key, value, reencrypt(keyring, value)) for key, value in rows if not value.startswith(keyring.active + ":")]
            if updates:
                written += len(psycopg2.extras.execute_values(write, sql, updates, template="(%s::bigint, %s::text, %s::text)",
                                                              page_size=len(updates), fetch=True))
            since_commit += len(rows)
            if since_commit >= commit_every:
                connection.commit()
                since_commit = 0
    connection.commit()
    return written


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process of this machine (/proc/<pid>/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat", "r", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("loop", choices=["seed", "tuned"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--commit-every", type=int, default=1000)
    parser.add_argument("--expect", type=int)
    args = parser.parse_args()

    keyring = secretsps_ref.load_keyring(args.keys, use_environment=False)
    connection = psycopg2.connect(args.dsn, application_name=f"bench-python-{args.loop}")
    with connection.cursor() as backend:
        backend.execute("SELECT pg_backend_pid()")
        backend_pid = backend.fetchone()[0]
    connection.commit()
    backend_cpu = process_cpu(backend_pid)
    cpu, clock = time.process_time(), time.perf_counter()
    written = (seed if args.loop == "seed" else tuned)(connection, keyring, args.table, args.batch, args.commit_every)
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    # The backend's CPU, read here because it ends with this connection (the server is on this machine in the benchmark).
    backend_cpu = None if backend_cpu is None or process_cpu(backend_pid) is None else process_cpu(backend_pid) - backend_cpu

    with connection.cursor() as check:
        check.execute(f"SELECT COUNT(*) FROM {args.table} WHERE secret IS NOT NULL AND secret NOT LIKE %s", (keyring.active + ":%",))
        left = check.fetchone()[0]
    connection.close()
    if left or (args.expect is not None and written != args.expect):
        print(f"the {args.loop} loop left {left} rows below {keyring.active} and wrote {written} (expected {args.expect})", file=sys.stderr)
        return 1
    print("RESULT " + json.dumps({
        "Scenario": f"python-{args.loop}", "Rows": written, "Seconds": seconds, "ClientCpuSeconds": cpu, "ServerCpuSeconds": backend_cpu,
        "PeakBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "Note": f"batch {args.batch}, commit every {args.commit_every}; psycopg2 {psycopg2.__version__}",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
