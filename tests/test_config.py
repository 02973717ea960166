from __future__ import annotations

from pathlib import Path

import pytest

from tailsight.config import ConfigError, load_settings


def test_defaults_store_url_points_at_data_dir(tmp_path: Path) -> None:
    s = load_settings({"data_dir": str(tmp_path)}, env={})
    assert s.store_url == f"chdb://{tmp_path.resolve()}"
    assert (s.api_port, s.otlp_http_port, s.otlp_grpc_port) == (8050, 4318, 4317)


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text("api-port = 9000\notlp_http_port = 9001\nttl_days = 3\n")
    env = {"TAILSIGHT_API_PORT": "9100", "TAILSIGHT_CONFIG": str(cfg)}
    s = load_settings({"api_port": None}, env=env)
    assert s.api_port == 9100  # env beats file
    assert s.otlp_http_port == 9001  # file beats default
    s = load_settings({"api_port": 9200}, env=env)
    assert s.api_port == 9200  # flag beats env
    assert s.ttl_days == 3


def test_yaml_file_with_section(tmp_path: Path) -> None:
    cfg = tmp_path / "t.yaml"
    cfg.write_text("tailsight:\n  token: s3cret\n  data-dir: /x/y\n")
    s = load_settings({}, env={}, config_file=cfg)
    assert s.token == "s3cret" and s.data_dir == Path("/x/y")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TAILSIGHT_API_PORT": "eighty"}, "TAILSIGHT_API_PORT"),
        ({"TAILSIGHT_API_PORT": "70000"}, "api_port"),
        ({"TAILSIGHT_TTL_DAYS": "-1"}, "ttl_days"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, env=env)


def test_unknown_file_key_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "t.toml"
    cfg.write_text("api_prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'api_prot'"):
        load_settings({}, env={}, config_file=cfg)
