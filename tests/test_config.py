import os
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
    with pytest.raises(
        ConfigError, match=r"unknown key 'scan.window_bar'; did you mean 'scan.window_bars'\?"
    ):
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
    with pytest.raises(
        ConfigError,
        match=re.escape("scan.window_overlap_ratio = 1.5 is out of range; expected float in [0.0, 1.0]"),
    ):
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
    assert (
        config.load([p], ["runtime.threads_per_rank=1"], env={"MPIAPP_THREADS": "2"}).runtime.threads_per_rank
        == 1
    )


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


# --- one declaration per key: items of lists, job defaults, the params objects derived from the schema ---


@pytest.mark.parametrize(
    "setting,message",
    [
        (
            "train.mlp.hidden=[16, 0]",
            "train.mlp.hidden = [16, 0]: expected a non-empty list of integers in [1, 65536] "
            "(value 2 (0) is out of range)",
        ),
        (
            "ddp.hidden=[8, true]",
            "ddp.hidden = [8, True]: expected a non-empty list of integers in [1, 65536] "
            "(value 2 (True) is a bool)",
        ),
        (
            "scan.live_degrees=[2, 1]",
            "scan.live_degrees = [2, 1]: expected a list of 1 to 8 numbers in (0, 1000], "
            "ascending (not ascending)",
        ),
        ("scan.live_degrees=[1, 2, 3, 4, 5, 6, 7, 8, 9]", "(it has 9)"),
        (
            "train.ridge.penalties=[0.1, 0]",
            "train.ridge.penalties = [0.1, 0]: expected a non-empty list of numbers in "
            "(0, 1e+06] (value 2 (0) is out of range)",
        ),
        (
            "optbench.targets=[0.5, 1]",
            "optbench.targets = [0.5, 1]: expected a non-empty list of numbers in (0, 1)",
        ),
        (
            "optbench.adam_betas=[0.9, 0.99, 0.5]",
            "optbench.adam_betas = [0.9, 0.99, 0.5]: expected two numbers in [0, 1)",
        ),
        ("optbench.batch_sizes=[0, 8, 0]", "optbench.batch_sizes lists 0 twice: [0, 8, 0]"),
        (
            "optbench.optimizers=[adam, sgd, nadam]",
            "optbench.optimizers = ['adam', 'sgd', 'nadam']: expected a non-empty list of names drawn from",
        ),
    ],
)
def test_a_bad_list_value_stops_the_load_naming_the_key(setting, message):
    with pytest.raises(ConfigError) as exc:
        config.load(overrides=[setting])
    assert message in str(exc.value), str(exc.value)


def test_list_items_are_taken_in_the_declared_type():
    cfg = config.load(overrides=["scan.live_degrees=[1, 3]", "optbench.step_scales=[1, 0.5]"])
    assert cfg.scan.live_degrees == [1.0, 3.0] and all(type(v) is float for v in cfg.scan.live_degrees)
    assert all(type(v) is float for v in cfg.optbench.step_scales)


def test_every_list_key_declares_its_items():
    assert [k.path for k in config.SCHEMA if k.type is list and k.items is None] == []


@pytest.mark.parametrize("job", ["ddp", "score", "train", "hpo", None])
def test_a_job_has_its_own_default_of_a_shared_key(tmp_path, job):
    want = "builtin:sp500stocks" if job == "ddp" else "builtin:all"
    assert config.defaults(job).data.source == want and config.load(job=job).data.source == want
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  source: synthetic:3\n")
    assert config.load([p], job=job).data.source == "synthetic:3"  # a file still wins
    assert config.load(overrides=["data.source=builtin:sp500"], job=job).data.source == "builtin:sp500"


def test_job_defaults_pass_their_key_and_the_reference_shows_them():
    for k in config.SCHEMA:
        for job, v in k.by_job:
            from mpiapp.__main__ import JOBS

            assert job in JOBS, (k.path, job)
            assert k.check(v, "by_job") == v
    row = next(x for x in config.reference_markdown().splitlines() if x.startswith("| `data.source`"))
    assert "ddp: `'builtin:sp500stocks'`" in row


def _params_classes():
    from mpiapp.engines.ddp.params import DDPParams
    from mpiapp.engines.optbench.grid import BenchParams
    from mpiapp.engines.scan import ScanParams
    from mpiapp.engines.train.cv import CVSpec
    from mpiapp.engines.train.params import TrainParams

    return [ScanParams, DDPParams, BenchParams, CVSpec, TrainParams]


def test_each_params_class_has_a_field_per_key_of_its_section_with_its_default():
    import dataclasses

    from mpiapp.config.params import section_keys

    for cls in _params_classes():
        keys = section_keys(cls.section)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for k in keys:
            leaf = k.path.rsplit(".", 1)[1]
            want = tuple(k.default) if isinstance(k.default, list) else k.default
            assert leaf in fields and fields[leaf].default == want, (cls.__name__, k.path)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen


def test_params_in_code_are_checked_like_a_loaded_config():
    from mpiapp.engines.ddp.params import DDPParams
    from mpiapp.engines.optbench.grid import BenchParams
    from mpiapp.engines.scan import ScanParams
    from mpiapp.engines.train.cv import CVSpec

    with pytest.raises(ConfigError, match=r"ScanParams: scan.live_degrees = \[1.0, 0.5\]"):
        ScanParams(live_degrees=(1.0, 0.5))
    with pytest.raises(ConfigError, match="scan.window_bars = 3 is out of range"):
        ScanParams(window_bars=3)
    with pytest.raises(ConfigError, match="the four score weights must not all be 0"):
        ScanParams(weight_fib=0, weight_time=0, weight_alternation=0, weight_channel=0)
    with pytest.raises(ConfigError, match="ddp.batch_size = 2 < ddp.accumulation_steps = 4"):
        DDPParams(batch_size=2, accumulation_steps=4)
    with pytest.raises(ConfigError, match="optbench.step_scales lists 1.0 twice"):
        BenchParams(step_scales=(1.0, 1.0))
    with pytest.raises(ConfigError, match="train.cv.train_bars = 10 < train.cv.min_train = 200"):
        CVSpec(window="rolling", train_bars=10)
    p = ScanParams(live_degrees=[1, 2], pivot_pct=1)  # a list given in code is held as a tuple
    assert p.live_degrees == (1.0, 2.0) and type(p.pivot_pct) is float
    assert hash(p) == hash(ScanParams(live_degrees=(1.0, 2.0), pivot_pct=1.0))
    assert {p: 1}[ScanParams(pivot_pct=1.0)] == 1


def test_a_params_class_may_not_declare_a_key_again():
    from mpiapp.config.params import Params

    with pytest.raises(TypeError, match=r"\['scan.window_bars'\] are keys of the schema"):

        class Twice(Params, section="scan"):  # noqa: F841
            window_bars: int = 100


def test_a_bad_list_value_is_exit_2_naming_the_key_before_mpi(tmp_path):
    from conftest import PY, mpiexec_cmd, run

    for job, setting in (
        ("train", "train.mlp.hidden=[16,0]"),
        ("optbench", "optbench.step_scales=[1,1]"),
        ("ddp", "ddp.hidden=[0]"),
    ):
        r = run(
            mpiexec_cmd(2, PY, "-m", f"mpiapp.{job}", "--set", setting, "--out", str(tmp_path / "x.h5")),
            timeout=120,
        )
        assert r.returncode == 2, r.output
        lines = [x for x in r.stderr.splitlines() if "config error" in x]
        assert len(lines) == 1 and setting.split("=")[0] in lines[0], r.stderr
        assert "Traceback" not in r.stderr and os.listdir(tmp_path) == []
