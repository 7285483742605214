"""The exporter answers GET and HEAD only: any other method is 405 with `Allow: GET, HEAD`."""

from __future__ import annotations

import http.client

import pytest

from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.server import ExporterServer


@pytest.fixture
def exporter(settings):
    with ExporterServer(PaymentsCollector(settings), "127.0.0.1", 0) as server:
        yield server


def ask(server: ExporterServer, method: str, path: str = "/metrics") -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request(method, path)
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW", "TRACE"])
def test_methods_other_than_get_and_head_are_refused(exporter, method):
    response = ask(exporter, method)
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"
    assert b"payments_total" not in response.body


def test_head_has_the_headers_of_get_and_no_body(exporter):
    got, head = ask(exporter, "GET"), ask(exporter, "HEAD")
    assert got.status == head.status == 200
    assert b"# HELP" in got.body and head.body == b""
    assert head.getheader("Content-Type") == got.getheader("Content-Type")
