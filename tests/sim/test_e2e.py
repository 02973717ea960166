"""End to end: `tailsight sim run` → a real `tailsight up` → rows in the embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailsight.cli import main
from tailsight.sim.corpus import corpus_scenario
from tailsight.storage import open_store
from tests.conftest import UpProcess

pytestmark = pytest.mark.integration


def test_sim_run_backfill_lands_every_span_and_point(
    tmp_path: Path, up: UpProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(corpus_scenario(2).to_yaml())
    endpoint = f"http://127.0.0.1:{up.otlp_http_port}"
    code = main(
        [
            "sim",
            "run",
            "--scenario",
            str(scenario),
            "--endpoint",
            endpoint,
            "--backfill",
            "10m",
            "--truth",
            str(tmp_path / "truth.json"),
        ]
    )
    assert code == 0
    line = capsys.readouterr().err
    spans = int(line.split("sent ")[1].split(" spans")[0])
    points = int(line.split(" and ")[1].split(" metric points")[0])
    assert spans > 1000 and points > 10000
    assert up.stop() == 0  # drains the spool into the store before releasing it
    store = open_store(f"chdb://{up.data_dir}")
    try:
        stored_spans = store.rows("SELECT count() FROM otel_traces")[0][0]
        gauges = store.rows("SELECT count() FROM otel_metrics_gauge")[0][0]
        sums = store.rows("SELECT count() FROM otel_metrics_sum")[0][0]
        services = {r[0] for r in store.rows("SELECT DISTINCT ServiceName FROM otel_traces")}
        ports = store.rows(
            "SELECT count() FROM otel_metrics_sum WHERE MetricName = 'tailsight.switch.port.io' "
            "AND ResourceAttributes['tailsight.switch.name'] = 'leaf1'"
        )[0][0]
    finally:
        store.close()
    assert stored_spans == spans
    assert gauges + sums == points
    assert services == {"llm-gateway", "embedder", "reranker", "asr"}
    assert ports > 0


def test_sim_run_reports_an_unreachable_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import free_port

    scenario = tmp_path / "s.yaml"
    scenario.write_text(corpus_scenario(2).to_yaml())
    code = main(
        [
            "sim",
            "run",
            "--scenario",
            str(scenario),
            "--endpoint",
            f"http://127.0.0.1:{free_port()}",
            "--backfill",
            "1m",
            "--retry-for",
            "1s",
        ]
    )
    assert code == 2
    assert "unreachable" in capsys.readouterr().err


def test_sender_waits_out_a_full_spool_and_loses_nothing(tmp_path: Path) -> None:
    import time
    from dataclasses import replace

    from tailsight.cli.sim import reanchor
    from tailsight.sim.scenario import Simulation
    from tailsight.sim.sender import OtlpHttpSender, backfill

    # A spool bound smaller than one request: every other request is refused with 429.
    up = UpProcess(tmp_path / "data", env={"TAILSIGHT_SPOOL_MAX_BYTES": "200000"})
    try:
        up.wait_healthy()
        # Ending now: the store's 30-day TTL would drop the corpus's November dates.
        scenario = reanchor(replace(corpus_scenario(4), faults=()), time.time() // 10 * 10, 60.0)
        sim = Simulation(scenario)
        sender = OtlpHttpSender(f"http://127.0.0.1:{up.otlp_http_port}", give_up_s=60)
        backfill(sim, sender, scenario.end, ticks_per_batch=2)
        sender.close()
        assert sender.stats.retries > 0
    finally:
        assert up.stop() == 0
    store = open_store(f"chdb://{up.data_dir}")
    try:
        assert store.rows("SELECT count() FROM otel_traces")[0][0] == sender.stats.spans
    finally:
        store.close()


def test_sim_run_live_sends_wall_clock_telemetry(tmp_path: Path, up: UpProcess) -> None:
    import time

    scenario = tmp_path / "s.yaml"
    scenario.write_text(corpus_scenario(2).to_yaml())
    started = time.time()
    code = main(
        ["sim", "run", "--scenario", str(scenario), "--endpoint",
         f"http://127.0.0.1:{up.otlp_http_port}", "--backfill", "1m", "--live", "--live-for", "15s"]
    )  # fmt: skip
    assert code == 0
    assert up.stop() == 0
    store = open_store(f"chdb://{up.data_dir}")
    try:
        newest = store.rows("SELECT toUnixTimestamp(max(TimeUnix)) FROM otel_metrics_gauge")[0][0]
        oldest = store.rows("SELECT toUnixTimestamp(min(Timestamp)) FROM otel_traces")[0][0]
    finally:
        store.close()
    # Backfill reached a minute back; live ticks carried the data up to the wall clock.
    assert oldest <= started - 50
    assert started + 5 <= newest <= time.time() + 1
