"""CLI fuzz test (#17): every command and sub-command of the argparse tree, with generated arguments,
stdin bytes and damaged roots, exits 0, 1 or 2, never prints a traceback, and never loses a good line
of any ledger.

The command list is read from `build_parser()`, so commands added later are fuzzed too. Commands that
serve until stopped or start a Prefect server (`NOT_EXECUTED`) have their argument parsing fuzzed
only. The CLI runs in process (`main(argv)` with captured streams) to keep each example cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genesis_payments.approvals import meta_agent
from genesis_payments.cli.main import build_parser, main
from genesis_payments.core.settings import Settings
from tests.support.approvals import FakeVendors, intent

# Leaves whose handler serves until stopped, or runs a Prefect flow (an ephemeral server per run):
# their arguments are parsed, not executed. Everything else found in the tree is executed.
NOT_EXECUTED = {("serve",), ("exporter",), ("fake-facilitator",), ("run",), ("demo",)}
EXIT_CODES = {0, 1, 2}
IS_ROOT = os.geteuid() == 0


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for name, child in subparsers[0].choices.items():
        yield from leaf_commands(child, (*path, name))


LEAVES = dict(leaf_commands(build_parser()))


# ---------------------------------------------------------------------------------------------
# A seeded root, built once through the real code paths, copied for every example


def ledger_paths(s: Settings) -> list[Path]:
    return [s.approval_log_path, s.transactions_path, s.finance_ledger_path, s.outbox_path, s.spend_summaries_path]


DAMAGE_TARGETS = ("approval_log", "transactions", "finance", "outbox", "state", "data", "wallets")


from genesis_payments.payments.fakes.fake_keys import address_book_path  # noqa: E402


def target_path(s: Settings, name: str) -> Path:
    return {
        "approval_log": s.approval_log_path, "transactions": s.transactions_path,
        "finance": s.finance_ledger_path, "outbox": s.outbox_path, "state": s.state_dir,
        "data": s.data_dir, "wallets": address_book_path(s),
    }[name]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    """A root with decisions (one pending review), staged payments, finance entries and an outbox line."""
    from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
    from genesis_payments.notify.discord import GenesisDiscord
    from tests.support.ledgers import at, entry, event

    root = tmp_path_factory.mktemp("fuzz-template") / "root"
    root.mkdir()
    kept, captured = "pay_" + "a" * 32, "pay_" + "b" * 32
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENESIS_ROOT", str(root))
        s = Settings()
        agent = meta_agent.GenesisMetaAgent(s, vendors=FakeVendors())
        agent.approve_payment_intent(intent(intent_id="fuzz-ok"))
        agent.approve_payment_intent(intent("900", intent_id="fuzz-big"))  # over the review threshold
        monitor = BusinessMonitor(s)
        monitor.log_payment(event(kept, "authorized", at(0), intent_id="fuzz-ok"))
        monitor.log_payment(event(captured, "authorized", at(1)))
        monitor.log_payment(event(captured, "captured", at(2)))
        FinanceLedger(s).record(entry(captured))
        GenesisDiscord(s).send("alerts", {"content": "template alert"})  # fake mode: one outbox line
    ids = {"payment": [kept, captured], "intent": ["fuzz-ok", "fuzz-big"]}
    return root, ids


# ---------------------------------------------------------------------------------------------
# Damage


@contextlib.contextmanager
def damaged_root(template_root: Path, damage: str, target: str) -> Iterator[Path]:
    """A copy of the template with one damage applied; undone and removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="fuzz-", dir=os.environ.get("FUZZ_TMP") or None))
    root = work / "root"
    mounted = False
    undo: list[list[str]] = []
    try:
        if damage == "full":
            root.mkdir()
            mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(root)],
                                     capture_output=True).returncode == 0
        shutil.copytree(template_root, root, symlinks=True, dirs_exist_ok=True)
        s = Settings(root=root)
        path = target_path(s, target)
        if damage == "directory":
            _remove(path)
            path.mkdir(parents=True)
        elif damage == "symlink_loop":
            _remove(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path.name + ".loop", path.with_name(path.name + ".loop"))
            os.symlink(path.name + ".loop", path)
        elif damage == "outside":
            outside = work / "outside"
            outside.write_bytes(b'{"planted": "outside the root"}\n')
            _remove(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(outside, path)
        elif damage == "fifo":
            _remove(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(path)
        elif damage == "unreadable":
            if path.exists():
                path.chmod(0)
        elif damage == "immutable":
            for item in (path, path.parent):
                if item.exists() and subprocess.run(["chattr", "+i", str(item)], capture_output=True).returncode == 0:
                    undo.append(["chattr", "-i", str(item)])
        elif damage == "full" and mounted:
            _fill(root)
        yield root
    finally:
        for command in undo:
            subprocess.run(command, capture_output=True)
        if mounted:
            subprocess.run(["umount", "-l", str(root)], capture_output=True)
        for dirpath, dirnames, filenames in os.walk(work):
            for name in dirnames + filenames:
                with contextlib.suppress(OSError):
                    if not os.path.islink(os.path.join(dirpath, name)):
                        os.chmod(os.path.join(dirpath, name), 0o700)
        shutil.rmtree(work, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fill(folder: Path) -> None:
    with open(folder / "filler.bin", "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)


def available_damages() -> list[str]:
    damages = ["none", "directory", "symlink_loop", "outside", "fifo", "unreadable"]
    if IS_ROOT and shutil.which("chattr"):
        damages.append("immutable")
    if IS_ROOT:
        damages.append("full")
    return damages


# ---------------------------------------------------------------------------------------------
# Arguments

NASTY = st.sampled_from(["", " ", "-1", "0", "1e3", "12.5", "../x", "a/b", "inv\u202eoice", "\udcff", "é€",
                         "x" * 300, "--", "-", "null", "{}", "pay_" + "0" * 32])
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00:"), max_size=20)


def argument_values(action: argparse.Action, ids: dict[str, list[str]]) -> st.SearchStrategy[str]:
    if action.choices:
        return st.one_of(st.sampled_from([str(c) for c in action.choices]), NASTY)
    known = ids["payment"] + ids["intent"]
    if action.dest in ("url",):
        return st.sampled_from(["http://127.0.0.1:9/x", "http://127.0.0.1:9/?apikey=s3cr3t", "not a url"])
    return st.one_of(st.sampled_from(known), NASTY, TEXT)


@st.composite
def command_lines(draw: st.DrawFn, path: tuple[str, ...], parser: argparse.ArgumentParser,
                  ids: dict[str, list[str]]) -> list[str]:
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:  # a positional: usually given, sometimes left out
            if draw(st.integers(0, 9)) > 0:
                argv.append(draw(argument_values(action, ids)))
            continue
        if draw(st.integers(0, 2)) > 0:  # each option in one example of three
            continue
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
        else:
            argv += [flag, draw(argument_values(action, ids))]
    if draw(st.integers(0, 9)) == 0:
        argv.append(draw(st.sampled_from(["--bogus", "extra", "--json", "-h"])))
    return argv


def stdin_bytes(ids: dict[str, list[str]]) -> st.SearchStrategy[bytes]:
    good = st.builds(lambda n: (json.dumps(intent(intent_id=f"fz-{n}")) + "\n").encode(),
                     st.integers(0, 10**6))
    return st.one_of(good, st.binary(max_size=200), st.just(b""), st.just(b'{"intent_id": "\xff"}\n'),
                     st.lists(good, min_size=2, max_size=4).map(b"".join))


# ---------------------------------------------------------------------------------------------
# The test


def snapshot(root: Path) -> dict[Path, bytes]:
    """The bytes of every ledger that is a regular file now: after the command they must be a prefix."""
    saved = {}
    for path in ledger_paths(Settings(root=root)):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                saved[path] = path.read_bytes()
    return saved


HANG_SECONDS = 10


class Hung(BaseException):
    """Raised by the alarm in a command that blocks (a FIFO opened for reading, a lock never freed)."""


def run_in_process(argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    hung: list[bool] = []

    def alarm(signum: int, frame: object) -> None:
        hung.append(True)
        raise Hung(f"{argv} still running after {HANG_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
            code = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not hung, f"{argv} hung: {err.getvalue()}"  # main turns the alarm into exit 1; a hang is a bug
    return code, out.getvalue(), err.getvalue()


def parse_only(argv: list[str]) -> int:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        else:
            code = 0
    assert "Traceback" not in err.getvalue()
    return code


@pytest.fixture
def fake_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meta_agent, "default_vendor_catalog", lambda s: FakeVendors())
    # Every damaged root is its own; `main` sets GENESIS_ROOT from --root, restored afterwards.
    monkeypatch.setenv("GENESIS_ROOT", os.environ["GENESIS_ROOT"])


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_every_command_survives_generated_input_on_damaged_roots(path, template, fake_catalogue, tmp_path):
    template_root, ids = template
    parser = LEAVES[path]

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        argv = data.draw(command_lines(path, parser, ids), label="argv")
        if path in NOT_EXECUTED:
            assert parse_only(argv) in (0, 2)
            return
        damage = data.draw(st.sampled_from(available_damages()), label="damage")
        target = data.draw(st.sampled_from(DAMAGE_TARGETS), label="target")
        stdin = data.draw(stdin_bytes(ids), label="stdin")
        with damaged_root(template_root, damage, target) as root:
            damaged = target_path(Settings(root=root), target)
            before = snapshot(root)
            code, _out, err = run_in_process(["--root", str(root), *argv], stdin)
            assert code in EXIT_CODES, err
            assert "Traceback" not in err, err
            for ledger, old in before.items():
                if damage == "unreadable" and ledger == damaged:
                    continue
                with contextlib.suppress(PermissionError):
                    now = ledger.read_bytes()
                    assert now.startswith(old), f"{ledger} lost good lines ({damage} on {target}, argv {argv})"

    check()


def test_the_tree_is_walked_and_every_leaf_is_fuzzed_or_parsed():
    assert {("approve",), ("payments", "list"), ("review", "approve"), ("audit", "verify"), ("config",)} <= set(LEAVES)
