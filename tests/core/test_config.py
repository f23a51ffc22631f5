from pathlib import Path

import pytest
import yaml

from funnelcast.core.config import CONFIG_DIR_ENV, default_config_dir, load_config, load_funnel_config
from funnelcast.core.errors import ConfigError


def test_shipped_config_has_the_seed_funnel(config):
    default = config.funnel.pipeline(config.funnel.default_pipeline)
    assert [s.key for s in default.stages] == ["待沟通", "发现机会", "明确需求", "购买决策"]
    assert [s.weight for s in default.all_stages] == [0.10, 0.25, 0.50, 0.75, 1.0, 0.0]
    assert default.won_stage.key == "成单完成" and default.lost_stage.key == "输单"
    assert len(config.funnel.pipelines) >= 2


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "funnel.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _funnel(**changes) -> dict:
    base = {
        "default_pipeline": "p",
        "pipelines": [
            {
                "key": "p",
                "stages": [{"key": "a", "weight": 0.2}, {"key": "b", "weight": 0.6}],
                "won_stage": {"key": "won", "weight": 1.0},
                "lost_stage": {"key": "lost", "weight": 0.0},
            }
        ],
    }
    base["pipelines"][0].update(changes)
    return base


def test_unknown_key_is_rejected_with_its_path(tmp_path):
    data = _funnel()
    data["pipelines"][0]["stages"][1]["wieght"] = 0.5
    with pytest.raises(ConfigError, match=r"pipelines\.0\.stages\.1\.wieght: Extra inputs are not permitted"):
        load_funnel_config(_write(tmp_path, data))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"stages": [{"key": "a", "weight": 0.6}, {"key": "b", "weight": 0.2}]}, "must not decrease"),
        ({"stages": [{"key": "a", "weight": 0.2}, {"key": "a", "weight": 0.6}]}, "repeated: \\['a'\\]"),
        ({"stages": [{"key": "a", "weight": 1.5}]}, "less than or equal to 1"),
        ({"won_stage": {"key": "won", "weight": 0.9}}, "won stage weight must be 1"),
    ],
)
def test_invalid_funnel_is_explained(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_funnel_config(_write(tmp_path, _funnel(**change)))


def test_default_pipeline_must_exist(tmp_path):
    data = _funnel()
    data["default_pipeline"] = "nope"
    with pytest.raises(ConfigError, match="default_pipeline 'nope' is not one of the pipelines"):
        load_funnel_config(_write(tmp_path, data))


def test_missing_config_file_is_an_error_not_a_default(tmp_path):
    with pytest.raises(ConfigError, match="funnel.yaml: configuration file not found"):
        load_config(tmp_path)


def test_config_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    assert default_config_dir() == tmp_path


def test_products_must_name_configured_pipelines(tmp_path, config):
    root = Path(config.source_dir)
    (tmp_path / "funnel.yaml").write_text(yaml.safe_dump(_funnel()), encoding="utf-8")
    for name in ("leads.yaml", "training.yaml"):
        (tmp_path / name).write_text((root / name).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError, match="products name pipelines not in funnel.yaml"):
        load_config(tmp_path)
