"""`tailsight sim run --telemetry prometheus` → remote write into a real `tailsight up`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailsight.cli import main
from tailsight.sim.corpus import corpus_scenario
from tailsight.storage import open_store
from tests.conftest import UpProcess

pytestmark = pytest.mark.integration

EXPORTERS = "match(MetricName, '^(DCGM_|node_|vllm:|nv_inference_)')"


def test_prometheus_telemetry_lands_every_sample_once(
    tmp_path: Path, up: UpProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(corpus_scenario(2).to_yaml())
    code = main(
        ["sim", "run", "--scenario", str(scenario), "--backfill", "2m", "--telemetry",
         "prometheus", "--endpoint", f"http://127.0.0.1:{up.otlp_http_port}",
         "--remote-write", f"{up.api}/api/v1/write"]
    )  # fmt: skip
    assert code == 0
    line = capsys.readouterr().err
    samples = int(line.split(" and ")[1].split(" exporter samples")[0])
    assert samples > 5000
    assert up.stop() == 0
    store = open_store(f"chdb://{up.data_dir}")
    try:
        stored = sum(
            store.rows(f"SELECT count() FROM {table} WHERE {EXPORTERS}")[0][0]
            for table in ("otel_metrics_gauge", "otel_metrics_sum")
        )
        agent = store.rows(
            "SELECT count() FROM otel_metrics_gauge WHERE MetricName LIKE 'tailsight.gpu.process%'"
        )[0][0]
        mapped = store.rows(
            "SELECT uniqExact(Attributes['k8s.pod.name']) FROM otel_metrics_gauge "
            "WHERE MetricName = 'hw.gpu.utilization'"
        )[0][0]
    finally:
        store.close()
    assert stored == samples
    assert agent == 0  # no agent metric: per-process GPU shares are not known
    assert mapped > 1  # the replicas' pods, from dcgm-exporter's labels


def test_live_is_refused_with_prometheus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(corpus_scenario(2).to_yaml())
    code = main(["sim", "run", "--scenario", str(scenario), "--telemetry", "prometheus", "--live"])
    assert code != 0
    assert "--live is not available with --telemetry prometheus" in capsys.readouterr().err
