import re
from pathlib import Path

import pytest
import yaml

from mpiapp import config
from mpiapp.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_match_default_yaml():
    with open(ROOT / "mpiapp" / "configs" / "default.yaml") as f:
        assert yaml.safe_load(f) == config.to_plain(config.defaults())


@pytest.mark.parametrize("preset", ["default", "high_perf", "speed", "laptop"])
def test_presets_load(preset):
    cfg = config.load([preset])
    assert cfg.scan.window_bars >= 6


def test_misspelt_key_names_the_key_and_the_right_one(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("scan:\n  window_bar: 300\n")
    with pytest.raises(ConfigError, match=r"unknown key 'scan.window_bar'; did you mean 'scan.window_bars'\?"):
        config.load([p])
    with pytest.raises(ConfigError, match=r"did you mean 'scan.max_start_points'"):
        config.load(overrides=["scan.max_start_point=3"])
    with pytest.raises(ConfigError, match=r"did you mean 'scan.up_to'"):
        config.load(overrides=["scan.upto=3"])


def test_wrong_type_names_key_and_expected_type():
    with pytest.raises(ConfigError, match=r"scan.window_bars = 'wide' has type str; expected int in \[6, "):
        config.load(overrides=["scan.window_bars=wide"])
    with pytest.raises(ConfigError, match=r"scan.enable_multi_start = 3 has type int; expected bool"):
        config.load(overrides=["scan.enable_multi_start=3"])


def test_out_of_range_names_key_and_range(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("scan:\n  window_overlap_ratio: 1.5\n")
    with pytest.raises(ConfigError, match=re.escape("scan.window_overlap_ratio = 1.5 is out of range; "
                                                    "expected float in [0.0, 1.0]")):
        config.load([p])
    with pytest.raises(ConfigError, match=r"scan.backend = 'gpu' is not allowed; expected one of 'auto'"):
        config.load(overrides=["scan.backend=gpu"])
    with pytest.raises(ConfigError, match=r"scan.scan_pattern_types"):
        config.load(overrides=["scan.scan_pattern_types=[sideways]"])


def test_precedence_file_then_env_then_set(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("runtime:\n  threads_per_rank: 3\n  log_level: debug\nscan:\n  up_to: 4\n")
    cfg = config.load([p], ["scan.up_to=6"], env={"MPIAPP_THREADS": "2"})
    assert (cfg.runtime.threads_per_rank, cfg.runtime.log_level, cfg.scan.up_to) == (2, "debug", 6)
    assert config.load([p], ["runtime.threads_per_rank=1"], env={"MPIAPP_THREADS": "2"}).runtime.threads_per_rank == 1


def test_dump_round_trips():
    cfg = config.load(overrides=["scan.top_k=7", "scan.scan_pattern_types=[bearish]"])
    again = yaml.safe_load(config.dump(cfg))
    assert again["scan"]["top_k"] == 7 and again["scan"]["scan_pattern_types"] == ["bearish"]
    assert config.load(overrides=[f"scan.top_k={again['scan']['top_k']}"]).scan.top_k == 7


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("scan: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load([p])


def test_reference_page_is_current():
    assert (ROOT / "docs" / "config.md").read_text() == config.reference_markdown()


def test_every_key_is_read_somewhere():
    """No dead keys: each key's leaf name appears in code outside the schema (mpiapp/config/)."""
    schema_dir = ROOT / "mpiapp" / "config"
    sources = "\n".join(p.read_text() for p in (ROOT / "mpiapp").rglob("*.py") if schema_dir not in p.parents)
    dead = [k.path for k in config.SCHEMA if not re.search(r"\b%s\b" % k.path.rsplit(".", 1)[1], sources)]
    assert dead == [], f"keys never read: {dead}"


def test_a_moved_key_names_its_new_place(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'score.unit_windows' has moved to 'work.unit_size'"):
        config.load(overrides=["score.unit_windows=5"])
    p = tmp_path / "old.yaml"
    p.write_text("score:\n  partition: dynamic\n")
    with pytest.raises(ConfigError, match=r"'score.partition' has moved to 'work.partition'"):
        config.load([p])


def test_presets_ship_inside_the_package():
    import importlib.resources

    names = {p.name for p in importlib.resources.files("mpiapp").joinpath("configs").iterdir()}
    assert {"default.yaml", "high_perf.yaml", "speed.yaml", "laptop.yaml"} <= names


def test_choices_are_case_blind_but_still_checked():
    """MPIAPP_LOG_LEVEL=DEBUG (the logging module's spelling) and --set work.partition=Dynamic mean the
    lower-case choices; a word that is no choice in any case is still refused, naming the choices."""
    cfg = config.load(overrides=["work.partition=Dynamic"], env={"MPIAPP_LOG_LEVEL": "DEBUG"})
    assert cfg.runtime.log_level == "debug" and cfg.work.partition == "dynamic"
    with pytest.raises(config.ConfigError, match="runtime.log_level = 'LOUD' is not allowed; expected"):
        config.load(env={"MPIAPP_LOG_LEVEL": "LOUD"})
