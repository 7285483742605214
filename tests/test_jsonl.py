import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_payments import BusinessMonitor, FinanceLedger, InvalidRecord
from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers.jsonl import IncrementalReader, canonical_json, encode_line, read_jsonl

EVENT = {
    "payment_id": "p1", "status": "authorized", "agent": "a", "vendor": "v",
    "chain": "eip155:8453", "token": "USDC", "amount_usd": "1.25",
}
EVENT_FIELDS = set(PaymentEvent.model_fields)


def test_log_payment_accepts_dict_and_writes_one_line(settings):
    monitor = BusinessMonitor(settings)
    monitor.log_payment(EVENT)
    lines = settings.transactions_path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith(b"\n")
    assert monitor.read_events().records[0].amount_usd == 1.25


def test_finance_ledger_record(settings):
    entry = {"payment_id": "p1", "agent": "a", "vendor": "v", "amount_usd": "2", "kind": "debit"}
    FinanceLedger(settings).record(entry)
    assert FinanceLedger(settings).read_entries().records[0].kind == "debit"


def test_torn_tail_is_reported_and_next_append_starts_fresh(settings):
    monitor = BusinessMonitor(settings)
    monitor.log_payment(EVENT)
    with open(settings.transactions_path, "ab") as handle:
        handle.write(b'{"event_id": "torn", "payme')
    torn = read_jsonl(settings.transactions_path, PaymentEvent)
    assert [b.line for b in torn.bad_lines] == [2] and len(torn.records) == 1
    monitor.log_payment(EVENT)
    after = read_jsonl(settings.transactions_path, PaymentEvent)
    assert len(after.records) == 2 and [b.line for b in after.bad_lines] == [2]


def test_incremental_reader_reads_only_new_lines_and_notices_truncation(settings):
    monitor = BusinessMonitor(settings)
    reader = IncrementalReader(settings.transactions_path, PaymentEvent)
    assert reader.read_new()[0].records == []
    monitor.log_payment(EVENT)
    monitor.log_payment(EVENT)
    first, reset = reader.read_new()
    assert len(first.records) == 2 and not reset
    monitor.log_payment(EVENT)
    second, reset = reader.read_new()
    assert len(second.records) == 1 and not reset
    os.truncate(settings.transactions_path, 0)
    monitor.log_payment(EVENT)
    third, reset = reader.read_new()
    assert reset and len(third.records) == 1 and reader.line_number == 1


@given(st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in EVENT_FIELDS),
                       st.one_of(st.text(max_size=20), st.integers(), st.booleans()), max_size=5))
def test_encoded_lines_are_canonical_json(extra):
    # The append path encodes flat records with pydantic's encoder; it must equal canonical_json.
    record = PaymentEvent.model_validate({**EVENT, "event_id": "e", "ts": "2026-11-26T03:00:00+00:00", **extra})
    try:
        expected = (canonical_json(record.to_json_dict()) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate cannot be written at all
    assert encode_line(record) == expected


def test_log_payment_refuses_text_that_cannot_be_written_as_utf8(settings):
    with pytest.raises(InvalidRecord):
        BusinessMonitor(settings).log_payment({**EVENT, "note": "\ud800"})
    assert not settings.transactions_path.exists()


def test_deep_nesting_is_a_bad_line_even_with_a_raised_recursion_limit():
    # py_ecc (imported by the x402 EVM stack) raises the limit to 100,000; json's C scanner would
    # then overflow the C stack. Run in a child so a regression shows as a failure, not a crash.
    import subprocess
    import sys

    code = (
        "import sys; sys.setrecursionlimit(100_000)\n"
        "from genesis_payments.ledgers.jsonl import decode_line, BadLineError\n"
        "try:\n    decode_line(b'[' * 200_000 + b']' * 200_000)\n"
        "except BadLineError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert "nested more than" in done.stdout


def test_lines_read_backwards_across_block_boundaries_skip_a_torn_tail(tmp_path):
    from genesis_payments.ledgers.jsonl import iter_lines_reversed

    lines = [f"line-{i}-".encode() * (i % 7 + 1) for i in range(200)]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n" + b"torn-without-newline")
    for block in (1, 7, 64, 1 << 16):
        assert list(iter_lines_reversed(path, block_size=block)) == lines[::-1]
