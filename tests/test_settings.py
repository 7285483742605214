import json
import subprocess
import sys

from genesis_payments import Settings

SECRET_URL = "https://discord.com/api/webhooks/1234/s3cr3t-token"


def run_cli(*args, env_extra=None):
    import os

    env = {k: v for k, v in os.environ.items()}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "genesis_payments", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_unset_use_fake_means_fake(genesis_root):
    settings = Settings()
    assert settings.use_fake is True
    assert settings.root == genesis_root
    assert settings.missing_live_settings() == []


def test_paths_follow_the_contract(genesis_root):
    s = Settings()
    assert s.transactions_path == genesis_root / "data/a2a-x402/transactions/transactions.jsonl"
    assert s.finance_ledger_path == genesis_root / "logs/finance_ledger.jsonl"
    assert s.approval_log_path == genesis_root / "data/a2a-x402/approval_log.jsonl"


def test_thresholds_have_contract_defaults():
    s = Settings()
    assert (str(s.low_balance_usd), s.failure_streak, s.stale_after_seconds, s.weekly_days) == (
        "50.000000",
        5,
        900,
        7,
    )
    assert s.alert_cooldown_seconds == 6 * 3600


def test_config_masks_every_secret_in_fake_mode():
    out = run_cli("config", env_extra={"GENESIS_DISCORD_ALERTS_WEBHOOK_URL": SECRET_URL})
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["GENESIS_DISCORD_ALERTS_WEBHOOK_URL"] == "***"
    assert "s3cr3t" not in out.stdout + out.stderr


def test_config_masks_credentials_in_every_url_setting():
    out = run_cli("config", env_extra={
        "GENESIS_FACILITATOR_URL": "https://ops:pa55word@fac.example/v2?network=base&apiKey=qs-s3cr3t",
        "GENESIS_FAKE_DISCORD_URL": "http://127.0.0.1:4022/?token=qs-s3cr3t",
        "GENESIS_RPC_URL": "https://rpc.example/v2/path-s3cr3t?key=qs-s3cr3t",
        "GENESIS_DISCORD_DASHBOARD_WEBHOOK_URL": SECRET_URL + "?thread_id=1&token=qs-s3cr3t",
    })
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["GENESIS_FACILITATOR_URL"] == "https://***@fac.example/v2?network=base&apiKey=***"
    assert shown["GENESIS_FAKE_DISCORD_URL"] == "http://127.0.0.1:4022/?token=***"
    assert shown["GENESIS_RPC_URL"] == shown["GENESIS_DISCORD_DASHBOARD_WEBHOOK_URL"] == "***"
    assert "s3cr3t" not in out.stdout + out.stderr and "pa55word" not in out.stdout


def test_a_url_setting_that_is_not_a_url_is_exit_2_without_repeating_it():
    out = run_cli("config", env_extra={"GENESIS_FACILITATOR_URL": "fac.example/?apikey=qs-s3cr3t"})
    assert out.returncode == 2
    assert "GENESIS_FACILITATOR_URL" in out.stderr or "facilitator_url" in out.stderr
    assert "qs-s3cr3t" not in out.stdout + out.stderr


def test_live_mode_names_each_missing_setting_and_exits_2():
    out = run_cli(
        "config",
        env_extra={"PAYMENTS_USE_FAKE": "false", "GENESIS_WALLET_PRIVATE_KEY": "0x" + "ab" * 32,
                   "GENESIS_DISCORD_ALERTS_WEBHOOK_URL": SECRET_URL},
    )
    assert out.returncode == 2
    for name in ("GENESIS_FACILITATOR_URL", "GENESIS_DISCORD_DASHBOARD_WEBHOOK_URL", "GENESIS_RPC_URL"):
        assert name in out.stderr
    assert "GENESIS_WALLET_PRIVATE_KEY" not in out.stderr
    assert "ab" * 32 not in out.stdout + out.stderr
    assert "s3cr3t" not in out.stdout + out.stderr


def test_root_option_overrides_environment(tmp_path):
    other = tmp_path / "elsewhere"
    out = run_cli("--root", str(other), "config")
    assert json.loads(out.stdout)["GENESIS_ROOT"] == str(other.resolve())
