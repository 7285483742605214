"""The compiled readers' tests again, with the C built under AddressSanitizer: a read or write
outside any buffer (a block's end, a value's last word, a table's last slot) fails the run,
whether or not it would have changed a verdict."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NATIVE = REPO / "genesis_payments" / "native"
TESTS = ["tests/test_flat_lines.py", "tests/test_native.py", "tests/test_id_codes.py", "tests/test_event_columns.py"]
# Runs the tests above with the sanitized library in place of the installed one.
RUNNER = """
import ctypes, sys, pytest
from genesis_payments.ledgers import native
lib = ctypes.CDLL(sys.argv[1])
for name in ("gp_scan_lines", "gp_encode_ids", "gp_rehash_ids", "gp_count_lines"):
    getattr(lib, name).argtypes = getattr(native._lib, name).argtypes
    getattr(lib, name).restype = getattr(native._lib, name).restype
native._lib = lib
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[2:]]))
"""


@pytest.mark.slow
def test_the_readers_tests_pass_with_the_c_built_under_address_sanitizer(tmp_path: Path) -> None:
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.skip("no gcc to build the sanitized library")
    runtime = subprocess.run([compiler, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(runtime):
        pytest.skip("gcc has no AddressSanitizer runtime here")
    library = tmp_path / "sanitized.so"
    subprocess.run([compiler, "-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-shared", "-fPIC",
                    "-std=gnu11", "-o", str(library), *(str(c) for c in sorted(NATIVE.glob("*.c")))], check=True)
    env = {**os.environ, "LD_PRELOAD": runtime, "ASAN_OPTIONS": "detect_leaks=0"}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(library), *TESTS], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert "AddressSanitizer" not in done.stderr + done.stdout, (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert " passed" in done.stdout
