"""``clipbridge_replica_info`` names the replica whose counters a scrape shows (serve --ray)."""

from __future__ import annotations

from clipbridge.serve.metrics import ServeMetrics


def test_a_replica_marks_its_scrapes_and_a_plain_server_does_not() -> None:
    plain = ServeMetrics().render().decode()
    assert "clipbridge_replica_info" not in plain
    metrics = ServeMetrics()
    metrics.set_replica("abc123")
    text = metrics.render().decode()
    assert 'clipbridge_replica_info{replica="abc123"} 1.0' in text
