"""GenesisDiscord against a real HTTP fake of Discord on 127.0.0.1, and in fake (outbox) mode."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from genesis_payments.core.settings import Settings
from genesis_payments.notify.discord import Attachment, DiscordRejected, DiscordUnavailable, GenesisDiscord
from genesis_payments.notify.discord_limits import MARKER, TOTAL, embed_size, fit_payload
from tests.support.fake_discord import FakeDiscord


@pytest.fixture
def fake_discord():
    with FakeDiscord() as server:
        yield server


def live_client(server: FakeDiscord, sleeps: list[float] | None = None, **overrides) -> GenesisDiscord:
    settings = Settings(use_fake=False, discord_backoff_seconds=0.01, discord_attempts=4, **overrides)
    record = sleeps.append if sleeps is not None else (lambda s: None)
    return GenesisDiscord(settings, webhook_urls=server.webhook_urls(), sleep=record)


def test_live_post_delivers_one_embed_that_mentions_nobody(fake_discord):
    live_client(fake_discord).send("alerts", {"content": "@everyone", "embeds": [{"title": "hello"}]})
    [message] = fake_discord.messages
    assert message["channel"] == "alerts"
    assert message["payload"]["allowed_mentions"] == {"parse": []}
    assert message["payload"]["embeds"][0]["title"] == "hello"


def test_429_waits_retry_after_then_succeeds(fake_discord):
    fake_discord.fail_next(429, times=1, retry_after=0.25)
    sleeps: list[float] = []
    live_client(fake_discord, sleeps).send("alerts", {"content": "x"})
    assert sleeps == [0.25]
    assert len(fake_discord.messages) == 1


def test_500_twice_then_200_delivers_exactly_one_message(fake_discord):
    fake_discord.fail_next(500, times=2)
    sleeps: list[float] = []
    live_client(fake_discord, sleeps).send("dashboard", {"content": "x"})
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.3  # backoff, with jitter
    assert len(fake_discord.messages) == 1
    assert fake_discord.requests == 3


def test_404_fails_at_once_with_a_clear_error_that_hides_the_url(fake_discord, caplog):
    fake_discord.fail_next(404, times=None)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DiscordRejected) as error:
        live_client(fake_discord).send("alerts", {"content": "x"})
    assert "HTTP 404" in str(error.value) and "alerts" in str(error.value)
    assert fake_discord.requests == 1
    for secret in ("alerts-secret-token", "/api/webhooks/1002"):
        assert secret not in str(error.value)
        assert secret not in caplog.text


def test_500_until_healed_gives_up_after_the_attempts_without_leaking_the_url(fake_discord, caplog):
    fake_discord.fail_next(500, times=None)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DiscordUnavailable) as error:
        live_client(fake_discord).send("alerts", {"content": "x"})
    assert fake_discord.requests == 4
    assert error.value.retryable
    assert "alerts-secret-token" not in str(error.value) + caplog.text


def test_network_error_is_retried_and_named_without_the_url():
    with FakeDiscord() as server:
        urls = server.webhook_urls()
    settings = Settings(use_fake=False, discord_backoff_seconds=0.0, discord_attempts=2)
    client = GenesisDiscord(settings, webhook_urls=urls, sleep=lambda s: None)
    with pytest.raises(DiscordUnavailable, match="network error") as error:
        client.send("alerts", {"content": "x"})
    assert "secret-token" not in str(error.value)


def test_attachment_is_sent_as_multipart_with_payload_json(fake_discord):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    live_client(fake_discord).send("dashboard", {"embeds": [{"title": "week", "image": {"url": "attachment://a.png"}}]},
                                   files=[Attachment("a.png", png, "image/png")])
    [message] = fake_discord.messages
    assert message["payload"]["embeds"][0]["title"] == "week"
    assert message["files"] == [{"field": "files[0]", "filename": "a.png", "bytes": len(png), "png": True}]


def test_fake_mode_writes_the_exact_payload_to_the_outbox(settings):
    GenesisDiscord(settings).send("alerts", {"content": "x"}, files=[Attachment("c.png", b"\x89PNG")])
    [line] = settings.outbox_path.read_text().splitlines()
    record = json.loads(line)
    assert record["channel"] == "alerts"
    assert record["payload"] == {"content": "x", "allowed_mentions": {"parse": []}}
    assert (settings.root / record["attachments"][0]["path"]).read_bytes() == b"\x89PNG"


def test_missing_live_webhook_is_a_config_error_naming_the_setting():
    from genesis_payments.core.errors import ConfigError

    with pytest.raises(ConfigError, match="GENESIS_DISCORD_ALERTS_WEBHOOK_URL"):
        GenesisDiscord(Settings(use_fake=False)).send("alerts", {"content": "x"})


def test_embeds_are_cut_to_discords_limits_with_a_marker():
    long = "x" * 10_000
    embed = {"title": long, "description": long, "fields": [{"name": long, "value": long}] * 30,
             "footer": {"text": long}}
    body = fit_payload({"content": long, "embeds": [embed, embed]})
    first = body["embeds"][0]
    assert len(body["content"]) == 2000 and body["content"].endswith(MARKER)
    assert len(first["title"]) <= 256 and first["title"].endswith(MARKER)
    assert len(first["description"]) <= 4096
    assert len(first["fields"]) <= 25
    assert all(len(f["value"]) <= 1024 and len(f["name"]) <= 256 for f in first["fields"])
    assert sum(embed_size(e) for e in body["embeds"]) <= TOTAL


def test_short_embeds_are_left_alone():
    embed = {"title": "t", "description": "d", "fields": [{"name": "n", "value": "v", "inline": True}]}
    assert fit_payload({"embeds": [embed]}) == {"embeds": [embed]}


def test_fake_mode_with_a_fake_discord_url_posts_there_and_fails_on_a_closed_port(settings) -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
        fake = settings.model_copy(update={"fake_discord_url": closed, "discord_attempts": 2,
                                           "discord_backoff_seconds": 0})
        with pytest.raises(DiscordUnavailable, match="after 2 tries"):
            GenesisDiscord(fake).send("alerts", {"content": "hello"})
    assert not settings.outbox_path.exists()
