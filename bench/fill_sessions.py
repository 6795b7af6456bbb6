#!/usr/bin/env python3
"""Adds N live sign-in sessions to an egov SQLite database (spread over the
demo accounts, as many browsers would leave them) and prints how many bytes
the database grew per session. Usage: fill_sessions.py DB_FILE N"""
import os
import secrets
import sqlite3
import sys
import time

path, count = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path, timeout=30)
db.execute("PRAGMA journal_mode=WAL")
users = [row[0] for row in db.execute("SELECT id FROM id_users")]
def size():
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    return pages * page_size
before = size()
now = int(time.time() * 1000)
agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
rows = (
    (secrets.token_urlsafe(32), users[n % len(users)], "1", "pwd", now // 1000, now, now + 12 * 3600 * 1000,
     f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", agent)
    for n in range(count)
)
with db:
    db.executemany(
        "INSERT INTO id_sessions (id, user_id, acr, amr, auth_time, last_seen_at, expires_at, ip, user_agent, revoked) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE)",
        rows,
    )
after = size()
print(f"bytes_per_session={(after - before) / count:.0f}")
