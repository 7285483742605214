"""No traceback, ever (§10): every damaged file, bad byte or bad argument is exit 1 (operation) or
2 (usage/configuration) with a message naming the file and what to do."""

from __future__ import annotations

import io
import json
import os

import pytest

from genesis_payments.approvals import meta_agent
from genesis_payments.cli.main import main
from genesis_payments.core.errors import LedgerError
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.payments.store import AuthorizationStore
from tests.support.approvals import FakeVendors, intent
from tests.support.damage import immutable
from tests.support.ledgers import at, event

P1, P2 = "pay_" + "1" * 32, "pay_" + "2" * 32  # the store's payment id form

@pytest.fixture(autouse=True)
def fake_vendor_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meta_agent, "default_vendor_catalog", lambda settings: FakeVendors())


def run(capsys, *argv: str, stdin: bytes | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_invalid_utf8_on_approves_stdin_is_that_lines_error_and_the_others_are_decided(settings, capsys,
                                                                                       monkeypatch):
    good = json.dumps(intent(intent_id="fine")).encode()
    code, out, err = run(capsys, "approve", stdin=b'{"intent_id":"\xff\xfe"}\n' + good + b"\n",
                         monkeypatch=monkeypatch)
    assert code == 1
    assert "stdin line 1: not valid UTF-8" in err
    assert [json.loads(line)["intent_id"] for line in out.splitlines()] == ["fine"]


def test_invalid_utf8_in_approve_file_names_the_file_and_line(settings, tmp_path, capsys):
    path = tmp_path / "intents.jsonl"
    path.write_bytes(json.dumps(intent(intent_id="ok")).encode() + b"\n\xc3\x28\n")
    code, out, err = run(capsys, "approve", "--file", str(path))
    assert code == 1 and f"{path} line 2: not valid UTF-8" in err and len(out.splitlines()) == 1


def test_approve_file_that_is_a_directory_or_missing(settings, tmp_path, capsys):
    code, _, err = run(capsys, "approve", "--file", str(tmp_path))
    assert code == 1 and f"{tmp_path} is a directory" in err
    code, _, err = run(capsys, "approve", "--file", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize("argv", [["payments", "list"], ["payments", "show", "p"], ["audit", "verify"]])
def test_a_ledger_replaced_by_a_directory_is_named(settings, capsys, argv):
    settings.transactions_path.mkdir(parents=True)
    settings.approval_log_path.mkdir(parents=True, exist_ok=True)
    code, out, err = run(capsys, *argv)
    assert code == 1 and "is a directory" in err and "0 payment" not in out + err


def test_approving_into_an_approval_log_that_is_a_directory_fails_each_intent_clearly(settings, capsys,
                                                                                       monkeypatch):
    settings.approval_log_path.mkdir(parents=True)
    code, out, err = run(capsys, "approve", stdin=json.dumps(intent()).encode(), monkeypatch=monkeypatch)
    assert code == 1 and out == "" and f"{settings.approval_log_path} is a directory" in err


def test_a_symlink_loop_is_an_error_never_zero_payments(settings, capsys):
    folder = settings.transactions_path.parent
    folder.mkdir(parents=True)
    os.symlink("loop", folder / "loop")
    os.symlink("loop", settings.transactions_path)
    code, out, err = run(capsys, "payments", "list")
    assert code == 1 and "symlink loop" in err and str(settings.transactions_path) in err
    assert "0 payment" not in out + err


def test_a_ledger_symlinked_out_of_the_root_is_refused_for_reading_and_appending(settings, tmp_path, capsys):
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(b"")
    settings.transactions_path.parent.mkdir(parents=True)
    os.symlink(outside, settings.transactions_path)
    code, _, err = run(capsys, "payments", "list")
    assert code == 1 and "outside the root" in err
    with pytest.raises(LedgerError, match="outside the root"):
        BusinessMonitor(settings).log_payment(event("p", "authorized", at(0)))
    assert outside.read_bytes() == b""


def test_a_symlink_inside_the_root_is_followed(settings, capsys):
    real = settings.root / "kept" / "transactions.jsonl"
    real.parent.mkdir()
    BusinessMonitor(settings).log_payment(event("p", "authorized", at(0)))
    settings.transactions_path.rename(real)
    os.symlink(real, settings.transactions_path)
    code, out, _ = run(capsys, "payments", "list", "--json")
    assert code == 0 and json.loads(out)["payment_id"] == "p"


def test_a_fifo_where_a_ledger_belongs_is_refused_without_hanging(settings, capsys):
    settings.transactions_path.parent.mkdir(parents=True)
    os.mkfifo(settings.transactions_path)
    code, _, err = run(capsys, "payments", "list")
    assert code == 1 and "named pipe (FIFO), not a regular file" in err


@pytest.mark.parametrize("argv", [
    ["buy", "http://127.0.0.1:9/x", "--max-usd", "-1"],
    ["buy", "http://127.0.0.1:9/x", "--max-usd", "abc"],
    ["payments", "show", "../etc"],
    ["payments", "cancel", "pay\x00"],
    ["review", "approve", "ev\u202elig"],
    ["no-such-command"],
])
def test_bad_arguments_are_usage_errors(settings, capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "error:" in err


def test_an_intent_id_with_a_path_separator_or_bidi_control_is_refused(settings, capsys, monkeypatch):
    lines = [json.dumps(intent(intent_id=bad)) for bad in ("../x", "a/b", "a\u0000b", "inv\u202eoice")]
    code, out, err = run(capsys, "approve", stdin="\n".join(lines).encode(), monkeypatch=monkeypatch)
    assert code == 1 and out == ""
    assert err.count("intent_id: an id must be printable text") == 4


def test_a_vendor_id_keeps_colons_and_slashes(settings, capsys, monkeypatch):
    monkeypatch.setattr(meta_agent, "default_vendor_catalog", lambda s: FakeVendors(vendors=["media:img/v2"]))
    code, out, err = run(capsys, "approve", stdin=json.dumps(intent(vendor="media:img/v2")).encode(),
                         monkeypatch=monkeypatch)
    assert code == 0 and "vendor: an id" not in err
    assert json.loads(out)["vendor"] == "media:img/v2"


def test_an_immutable_state_folder_is_a_clear_error_not_a_permission_traceback(settings, capsys):
    store = AuthorizationStore(settings)
    store.save({"payment_id": P1, "status": "authorized"})
    with immutable(store.dir):
        with pytest.raises(LedgerError, match=r"cannot write .*pay_2+\.json: Operation not permitted"):
            store.save({"payment_id": P2, "status": "authorized"})
        assert store.load(P1) == {"payment_id": P1, "status": "authorized"}
        code, _, err = run(capsys, "payments", "capture", P1)
        assert code == 1 and str(store.dir) in err


def test_reads_never_open_a_ledger_for_writing(settings, capsys):
    BusinessMonitor(settings).log_payment(event("p", "authorized", at(0)))
    with immutable(settings.transactions_path):  # any open for writing fails with EPERM, even as root
        assert run(capsys, "payments", "list")[0] == 0
        assert run(capsys, "payments", "show", "p")[0] == 0


def test_an_unexpected_error_is_one_line_not_a_traceback(settings, capsys, monkeypatch):
    from genesis_payments.cli import payments_cmd

    def broken(args):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(payments_cmd, "_states", lambda: broken(None))
    code, _, err = run(capsys, "payments", "list")
    assert code == 1 and "unexpected error (RuntimeError: something nobody planned for)" in err

