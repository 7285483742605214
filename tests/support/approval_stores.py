"""Approval tests on both stores (§12): `pytestmark = both_stores` in a test module runs each of its
tests twice, on the files of §2 and on a fresh PostgreSQL database (the `store` fixture of
tests/support/postgres.py, set up before `settings` reads the environment).

`@files_only` keeps one test on the files store: for tests that read or damage the JSONL file's
bytes (its torn tails, rotations and edits have no PostgreSQL counterpart; tests/test_postgres_
approvals.py checks the table's own: an edited row, a cut chain, refused UPDATE/DELETE/TRUNCATE).
"""

from __future__ import annotations

import pytest

both_stores = pytest.mark.usefixtures("store")
files_only = pytest.mark.parametrize("store", ["files"], indirect=True)
