"""One redaction rule for URLs (§1): userinfo, credential parameters and webhook paths are masked
wherever a URL is shown (config, errors, logs, reports, artifacts); the rest of the URL stays."""

from __future__ import annotations

import logging

import pytest

from genesis_payments.core.redaction import MASK, install_log_redaction, redact, redact_url

SECRET = "qs-s3cr3t"


@pytest.mark.parametrize("name", [
    "key", "apikey", "api_key", "ApiKey", "X-Api-Key", "token", "access_token", "TOKEN", "secret",
    "client_secret", "password", "sig", "signature", "auth", "Authorization", "credential", "session",
])
def test_every_credential_parameter_is_masked_by_name(name):
    shown = redact_url(f"https://fac.example/v2/x?network=base&{name}={SECRET}")
    assert SECRET not in shown
    assert shown == f"https://fac.example/v2/x?network=base&{name}={MASK}"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://user:pw@fac.example:8443/x", f"https://{MASK}@fac.example:8443/x"),
    ("https://tok@fac.example/x", f"https://{MASK}@fac.example/x"),
    ("https://discord.com/api/webhooks/123/abc-DEF?wait=true", f"https://discord.com/api/webhooks/{MASK}?wait=true"),
    ("https://discord.com/api/v10/webhooks/123/abc", f"https://discord.com/api/v10/webhooks/{MASK}"),
    ("https://hooks.slack.com/services/T0/B0/XXXX", f"https://hooks.slack.com/services/{MASK}"),
    ("https://app.example/cb#access_token=abc&state=1", f"https://app.example/cb#access_token={MASK}&state=1"),
    ("https://fac.example/settle?network=base", "https://fac.example/settle?network=base"),
])
def test_userinfo_webhook_paths_and_fragments_are_masked_and_the_rest_kept(url, expected):
    assert redact_url(url) == expected


def test_free_text_masks_every_url_in_it_and_bare_credential_pairs_but_not_ids():
    text = (f"cannot reach https://fac.example/?apikey={SECRET}: refused; retried with token={SECRET}; "
            f"idempotency_key=k-1 payment_id=pay_1 tx 0x{'ab' * 32}")
    shown = redact(text)
    assert SECRET not in shown and "ab" * 32 not in shown
    assert "https://fac.example/?apikey=***" in shown and "idempotency_key=k-1 payment_id=pay_1" in shown


def test_a_malformed_url_is_still_masked():
    assert SECRET not in redact(f"http://[broken/?key={SECRET} and http://u:{SECRET}@h:x/")


def test_log_records_are_redacted_as_they_are_made(caplog):
    install_log_redaction()
    caplog.set_level(logging.INFO)
    log = logging.getLogger("genesis_payments.test")
    log.info("posting to %s", f"https://fac.example/?apikey={SECRET}")
    try:
        raise RuntimeError(f"boom at https://discord.com/api/webhooks/1/{SECRET}")
    except RuntimeError:
        log.exception("failed")
    assert SECRET not in caplog.text
    assert "apikey=***" in caplog.text and "webhooks/***" in caplog.text


@pytest.mark.parametrize("url", [f"http://127.0.0.1:9/x?apikey={SECRET}", f"http://ops:{SECRET}@127.0.0.1:9/x",
                                 f"http://127.0.0.1:9/api/webhooks/1/{SECRET}"])
def test_a_failed_buy_never_shows_the_urls_credentials(settings, capsys, url):
    from genesis_payments.cli.main import main

    assert main(["buy", url]) in (1, 2)
    out, err = capsys.readouterr()
    assert SECRET not in out + err and "127.0.0.1:9" in err
