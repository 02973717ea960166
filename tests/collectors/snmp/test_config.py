"""switches.yaml, vendor mappings and the CLI's bad input: one clear line, nothing else lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailsight.cli import main
from tailsight.collectors.snmp.client import parse_oid
from tailsight.collectors.snmp.mappings import builtin_mappings, parse_mapping
from tailsight.collectors.snmp.poller import uptime_went_back
from tailsight.collectors.snmp.switches import load_switches, parse_target
from tailsight.config import ConfigError
from tests.collectors.snmp.conftest import Snmpd


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "switches.yaml"
    path.write_text(text)
    return path


def test_switches_yaml_defaults_and_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
interval: 15
defaults: {community: dc-ro, vendor: sonic, ports: "^Ethernet", timeout: 1.5}
switches:
  - {name: leaf1, target: "10.0.0.11"}
  - {name: leaf2, target: "10.0.0.12:1161", community: other, vendor: cisco-nxos}
  - name: leaf3
    target: "[2001:db8::3]:161"
    version: 3
    user: ts
    auth_protocol: sha256
    auth_key: k1k1k1k1
    priv_key: p1p1p1p1
    priv_protocol: aes256
""",
    )
    config = load_switches(path)
    assert config.interval_s == 15
    one, two, three = config.switches
    assert (one.target.host, one.target.port, one.target.community) == ("10.0.0.11", 161, "dc-ro")
    assert one.vendor is not None and one.vendor.name == "cisco-nxos"  # sonic is an alias
    assert one.ports == "^Ethernet" and one.target.timeout_s == 1.5
    assert (two.target.port, two.target.community) == (1161, "other")
    assert (three.target.host, three.target.version, three.target.priv_protocol) == (
        "2001:db8::3",
        "3",
        "aes256",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("switches: [{target: a}]", "`name` is required"),
        ("switches: [{name: a}]", "`target`"),
        ("switches: [{name: a, target: 'h:99999'}]", "HOST or HOST:PORT"),
        ("switches: [{name: a, target: h, version: 1}]", "version must be 2c or 3"),
        ("switches: [{name: a, target: h, version: 3}]", "SNMPv3 needs"),
        ("switches: [{name: a, target: h, vendor: junos}]", "unknown vendor 'junos'"),
        ("switches: [{name: a, target: h, ports: '('}]", "not a regular expression"),
        ("switches: [{name: a, target: h, colour: red}]", "unknown key(s) colour"),
        ("switches: [{name: a, target: h}, {name: a, target: g}]", "unique"),
        ("switches: [{name: a, target: h, timeout: soon}]", "switches[0]"),
        ("just text", "`switches` list"),
        ("switches: [", "not YAML"),
    ],
)
def test_bad_switches_yaml_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_switches(write(tmp_path, text))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_mapping_validation() -> None:
    assert {"cisco-nxos", "sonic"} <= set(builtin_mappings())
    good = {
        "name": "x",
        "metrics": [{"metric": "tailsight.switch.port.ecn_marked", "oid": "1.3.6.1.4.1.1.2"}],
    }
    assert parse_mapping(good, "x.yaml").columns[0].direction is None
    for bad, message in (
        (
            {"name": "x", "metrics": [{"metric": "tailsight.switch.port.io", "oid": "1.3"}]},
            "must be one of",
        ),
        (
            {
                "name": "x",
                "metrics": [{"metric": "tailsight.switch.port.pfc.pause_frames", "oid": "1.3"}],
            },
            "direction",
        ),
        (
            {
                "name": "x",
                "metrics": [{"metric": "tailsight.switch.port.ecn_marked", "oid": "abc"}],
            },
            "numeric OID",
        ),
        ({"name": "x", "metrics": []}, "non-empty"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_mapping(bad, "x.yaml")


def test_small_parsers() -> None:
    assert parse_oid(".1.3.6.1.2.1.1.3.0") == (1, 3, 6, 1, 2, 1, 1, 3, 0)
    assert parse_target("sw1") == ("sw1", 161)
    assert parse_target("sw1:1161") == ("sw1", 1161)
    # sysUpTime: a drop is a restart, unless it is the 497-day TimeTicks wrap
    assert uptime_went_back(90_000, 500, 10.0)
    assert not uptime_went_back(500, 90_000, 10.0)
    assert not uptime_went_back(2**32 - 200, 800, 10.0)
    assert uptime_went_back(2**32 - 200, 2**31, 10.0)


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["switch-poller", "--once", "--output", "json"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["switch-poller", "--target", "h", "--name", "x"]) == 2
    assert "--endpoint" in capsys.readouterr().err
    path = write(tmp_path, "switches: [{name: a, target: h, vendor: nope}]")
    assert main(["switch-poller", "--config", str(path), "--once", "--output", "json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tailsight switch-poller: ") and err.count("\n") == 1


@pytest.mark.integration
def test_cli_once_json(snmpd: Snmpd, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--target", f"127.0.0.1:{snmpd.port}", "--name", "leafj", "--ports", "^lo$"]
    assert main(["switch-poller", *args, "--once", "--output", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and all(r["resource"] == {"tailsight.switch.name": "leafj"} for r in lines)
    assert {r["attributes"]["network.interface.name"] for r in lines} == {"lo"}
    io = [r for r in lines if r["metric"] == "tailsight.switch.port.io"]
    assert {r["attributes"]["network.io.direction"] for r in io} == {"receive", "transmit"}
    assert all(r["type"] == "sum" and r["unit"] == "By" and r["value"] > 0 for r in io)
