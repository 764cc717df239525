from mpiapp.runtime.threads import compute_plan, cpu_list, cgroup_cpus


def test_unbound_ranks_share_the_node():
    p = compute_plan((0, 1, 2, 3), [(0, 1, 2, 3)] * 2, 0)
    assert p.threads == 2 and not p.warnings


def test_bound_ranks_use_their_binding():
    p = compute_plan((2, 3), [(0, 1), (2, 3)], 1)
    assert p.threads == 2 and not p.warnings


def test_binding_narrower_than_the_share_warns():
    p = compute_plan((0,), [(0,), (1, 2, 3)], 0)  # share = 4 // 2 = 2, but bound to one CPU
    assert p.threads == 1
    assert any("bound to 1 CPU(s) (0) but planned 2 threads" in w for w in p.warnings)


def test_oversubscribed_node_runs_one_thread_per_rank():
    p = compute_plan((0, 1), [(0, 1)] * 4, 2)
    assert p.threads == 1 and p.oversubscribed
    assert any("oversubscribed" in w for w in p.warnings)


def test_request_above_share_is_capped_with_a_warning():
    p = compute_plan(tuple(range(8)), [tuple(range(8))] * 2, 0, requested=6)
    assert p.threads == 4 and any("threads_per_rank=6" in w for w in p.warnings)
    assert compute_plan(tuple(range(8)), [tuple(range(8))] * 2, 0, requested=3).threads == 3


def test_cgroup_quota_caps_the_node():
    p = compute_plan(tuple(range(8)), [tuple(range(8))], 0, quota=2.5)
    assert p.node_cpus == 2 and p.threads == 2


def test_cgroup_reader(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpus(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpus(str(tmp_path)) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("400000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpus(str(v1)) == 4.0


def test_cpu_list():
    assert cpu_list([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11"


def test_env_is_set_before_import_and_numba_left_alone_after():
    import sys

    from mpiapp.runtime.threads import THREAD_ENV, apply_env

    p = compute_plan((0, 1, 2), [(0, 1, 2)], 0)
    env = {}
    had = sys.modules.pop("numba", None)
    try:
        apply_env(p, "workqueue", env=env)
        assert all(env[v] == "3" for v in THREAD_ENV) and env["NUMBA_THREADING_LAYER"] == "workqueue"
        sys.modules["numba"] = had or object()  # numba already imported: its pool size is fixed
        env = {}
        apply_env(p, None, env=env)
        assert "NUMBA_NUM_THREADS" not in env and env["OMP_NUM_THREADS"] == "3"
    finally:
        if had is not None:
            sys.modules["numba"] = had
        else:
            sys.modules.pop("numba", None)


def test_wait_policy_is_passive_for_the_scan_and_oversubscribed_nodes_only():
    from mpiapp.runtime.threads import apply_env, compute_plan, wait_policy

    assert wait_policy("auto", True, False) == "PASSIVE"  # the scan: kernels between serial phases
    assert wait_policy("auto", False, True) == "PASSIVE"  # more ranks than CPUs on the node
    assert wait_policy("auto", False, False) is None  # train, ddp on dedicated cores: library default
    assert wait_policy("active", True, True) == "ACTIVE" and wait_policy("passive", False, False) == "PASSIVE"
    p = compute_plan((0, 1), [(0, 1)], 0)
    env = {}
    apply_env(p, None, env=env, wait=None)
    assert "OMP_WAIT_POLICY" not in env
    env = {"OMP_WAIT_POLICY": "ACTIVE"}  # the user's choice wins
    apply_env(p, None, env=env, wait="PASSIVE")
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"
