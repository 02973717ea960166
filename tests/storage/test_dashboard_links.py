"""Per-link summaries in SQL (``storage.dashboard_links``) against a real store: known answers,
and the same frame as the pandas reference (``analysis.fleet.link_side``) on every tier.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tailsight.analysis.fleet import NIC_COUNTERS, NIC_SPEED, PORT_COUNTERS, PORT_SPEED, link_side
from tailsight.analysis.series import bucket_values
from tailsight.storage import Store
from tailsight.storage.dashboard_links import link_summaries
from tailsight.storage.dashboard_metrics import metric_buckets
from tests.analysis.telemetry import insert_gauges, insert_sums, point
from tests.timebase import recent_noon

T0 = datetime.fromtimestamp(recent_noon(), UTC)
END = T0 + timedelta(minutes=20)


def _fill(store: Store) -> None:
    sums, gauges = [], []
    for port, rate in (("Ethernet1", 1e6), ("Ethernet2", 5e6)):
        where = {"switch": "leaf1", "interface": port}
        for s in range(0, 1200, 10):
            at = T0 + timedelta(seconds=s)
            # Transmit climbs at ``rate`` B/s and is reset at 610 s; receive at a tenth of it.
            tx = rate * (s if s < 610 else s - 610)
            sums.append(
                point("tailsight.switch.port.io", at, tx, "By", direction="transmit", **where)
            )
            sums.append(
                point(
                    "tailsight.switch.port.io",
                    at,
                    rate * s / 10,
                    "By",
                    direction="receive",
                    **where,
                )
            )
            ecn = 3.0 * s if port == "Ethernet2" and s >= 600 else 0.0
            sums.append(point("tailsight.switch.port.ecn_marked", at, ecn, "{packet}", **where))
            gauges.append(point(PORT_SPEED, at, 1e9, "bit/s", **where))
    for s in range(0, 1200, 10):
        at = T0 + timedelta(seconds=s)
        nic = {"host": "node-1", "interface": "eth0"}
        sums.append(point("system.network.io", at, 2e6 * s, "By", direction="transmit", **nic))
        sums.append(point("tailsight.rdma.cnp.sent", at, 0.5 * s, "{packet}", **nic))
        gauges.append(point(NIC_SPEED, at, 2e8, "bit/s", **nic))
    insert_sums(store, sums)
    insert_gauges(store, gauges)


def _reference(
    store: Store, counters: dict[str, str], speed: str, step: int, switch_side: bool
) -> pd.DataFrame:
    keys = ["switch", "interface"] if switch_side else ["host", "interface"]
    rows = metric_buckets(store, [*counters, speed], T0, END, step, switches_only=switch_side)
    if not switch_side:
        rows = rows[rows["switch"] == ""]
    return link_side(bucket_values(rows, step), counters, speed, keys).sort_values(keys)


@pytest.mark.parametrize("step", [30, 120, 600])
def test_same_as_the_pandas_reference_on_every_tier(store: Store, step: int) -> None:
    _fill(store)
    for counters, speed, switch_side in (
        (PORT_COUNTERS, PORT_SPEED, True),
        (NIC_COUNTERS, NIC_SPEED, False),
    ):
        got = link_summaries(store, counters, speed, T0, END, step, switch_side=switch_side)
        want = _reference(store, counters, speed, step, switch_side).reset_index(drop=True)
        assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0
        for column in got.columns:
            if column in ("switch", "host", "interface"):
                assert got[column].tolist() == want[column].tolist(), column
            else:
                np.testing.assert_allclose(
                    got[column].to_numpy(float),
                    want[column].to_numpy(float),
                    rtol=1e-9,
                    err_msg=column,
                )


def test_known_rates(store: Store) -> None:
    _fill(store)
    ports = link_summaries(store, PORT_COUNTERS, PORT_SPEED, T0, END, 600, switch_side=True)
    one, two = ports.iloc[0], ports.iloc[1]
    assert (one["interface"], two["interface"]) == ("Ethernet1", "Ethernet2")
    # Both directions added: 1.1 MB/s; the second bucket's transmit is reset at 610 s (back
    # to 0, counted from there): 580 s of climbing in the 590 s between its first and last point.
    second = 1e6 * 580 / 590 + 1e5
    assert one["bytes_peak"] == pytest.approx(1.1e6)
    assert one["bytes_mean"] == pytest.approx((1.1e6 + second) / 2)
    assert one["util_peak"] == pytest.approx(8e6 / 1e9) and one["speed"] == 1e9
    assert two["ecn_mean"] == pytest.approx(1.5) and two["ecn_peak"] == pytest.approx(3.0)
    assert one["ecn_peak"] == 0.0 and np.isnan(one["pfc_mean"])  # no PFC series at all
    nics = link_summaries(store, NIC_COUNTERS, NIC_SPEED, T0, END, 600, switch_side=False)
    assert nics["host"].tolist() == ["node-1"]
    assert nics.iloc[0]["cnp_sent_peak"] == pytest.approx(0.5)
    assert nics.iloc[0]["util_mean"] == pytest.approx(2e6 * 8 / 2e8)
