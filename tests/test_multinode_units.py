"""The pure pieces behind running across hosts, on one host: the address and interface lookups, the
visibility check's one-host answer, the data source's path, `mpiapp info`'s per-host lines."""

import socket

import pytest

from mpiapp.runtime import netif


def test_listen_binds_the_one_address_it_is_given():
    s = netif.listen("127.0.0.1")
    try:
        addr, port = s.getsockname()
        assert addr == "127.0.0.1" and port > 0
        with socket.create_connection((addr, port), timeout=2):
            pass
    finally:
        s.close()


def test_route_to_loopback_is_the_loopback_interface():
    name, local = netif.route_to("127.0.0.1")
    assert local == "127.0.0.1" and name == netif.interface_of("127.0.0.1")
    assert name is not None and all(not a.startswith("127.") for _, a in netif.local_ipv4())


def test_route_to_an_own_address_leaves_from_that_address():
    mine = netif.local_ipv4()
    if not mine:
        pytest.skip("no non-loopback IPv4 address here")
    ifname, addr = mine[0]
    assert netif.route_to(addr) == (ifname, addr)


def test_spec_path_names_what_a_source_reads():
    from mpiapp.io.sources import spec_path

    assert spec_path("csv:/data/x") == "/data/x" and spec_path("parquet:d") == "d"
    assert spec_path("hdf5:f.h5") == "f.h5"
    assert spec_path("builtin:all") is None and spec_path("synthetic:8") is None
    assert spec_path("/some/folder") == "/some/folder"


def test_info_hosts_rows_group_ranks_by_host():
    from mpiapp.info import hosts_of

    facts = [(0, "a", 4, "eth0 10.0.0.1"), (1, "a", 4, "eth0 10.0.0.1"), (2, "b", 8, "ib0 10.1.0.2")]
    rows = [{"rank": r, "host": h, "node_cpus": c, "interface": i} for r, h, c, i in facts]
    assert hosts_of(rows, "messages") == [
        {"host": "a", "ranks": "0,1", "cpus": 4, "work_counter": "messages", "interface": "eth0 10.0.0.1"},
        {"host": "b", "ranks": "2", "cpus": 8, "work_counter": "messages", "interface": "ib0 10.1.0.2"},
    ]


def test_unseen_waits_for_a_path_that_appears_and_names_one_that_does_not(tmp_path):
    import threading

    from mpiapp.work.visibility import _unseen

    late = tmp_path / "late.txt"
    probe = tmp_path / "probe"
    probe.write_text("tok")
    threading.Timer(0.3, lambda: late.write_bytes(b"12345")).start()
    missing = _unseen(
        {str(tmp_path): str(probe)}, {str(late): 5, str(tmp_path / "never"): 3}, "tok", wait_s=2.0
    )
    assert missing == [str(tmp_path / "never")]
    assert _unseen({str(tmp_path): str(probe)}, {}, "other-token", wait_s=0.1) == [str(tmp_path)]
