"""Remote inputs for real: a Debian ``xrootd`` server on 127.0.0.1 exporting a directory read-only; the same
sample ingested on Spark from ``root://127.0.0.1:PORT//…`` and from local disk gives the same events;
an unreachable server or a missing remote file is one line after bounded retries."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from dltrigger.core.errors import InputError
from dltrigger.core.sources import expand_source
from dltrigger.ingest import plan_tasks

from helpers import ingest

FAST_RETRIES = {"attempts": 2, "wait_s": 0.1, "timeout_s": 5}


def only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def xrootd():
    """An XRootD server exporting a fresh directory read-only; yields (URL prefix, exported directory).

    XRootD has no directive to listen on one address, so it runs only inside the loopback-only network
    namespace of tests/loopback.sh, where 127.0.0.1 is the only address there is."""
    if shutil.which("xrootd") is None:
        pytest.skip("no xrootd server: install Debian's xrootd-server (`make test` does where it may)")
    if not only_loopback():
        pytest.skip("the XRootD server listens on all interfaces: run the tests through tests/loopback.sh")
    # A world-readable directory: as root, xrootd drops to `nobody`, who cannot enter pytest's tmp_path.
    home = tempfile.mkdtemp(prefix="dltrigger-xrootd-")
    data = os.path.join(home, "data")
    os.makedirs(data)
    os.chmod(home, 0o777)
    config = os.path.join(home, "xrootd.cfg")
    with open(config, "w") as handle:
        handle.write(f"all.export {data} r/o\nall.adminpath {home}\nall.pidpath {home}\nxrd.network nodnr\n")
    port = free_port()
    command = ["xrootd", "-p", str(port), "-c", config, "-l", os.path.join(home, "xrootd.log"), "-n", "test"]
    if os.geteuid() == 0:
        command += ["-R", "nobody"]  # xrootd refuses to run as root
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None and time.time() < deadline, f"xrootd did not start (see {home}/test/xrootd.log)"
            time.sleep(0.1)
        yield f"root://127.0.0.1:{port}/", data
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def test_a_sample_read_over_xrootd_equals_the_same_sample_read_from_disk(xrootd, sanity_samples, tmp_path):
    prefix, data = xrootd
    local = str(sanity_samples["wjets"][0])
    for name in ("part_a.root", "part_b.root"):
        shutil.copy(local, os.path.join(data, name))
        os.chmod(os.path.join(data, name), 0o644)
    remote_files = expand_source(f"{prefix}/{data}/part_*.root", FAST_RETRIES)
    assert remote_files == [f"{prefix}/{data}/part_a.root", f"{prefix}/{data}/part_b.root"]

    samples = [
        {"sample": "disk", "label": "wjets", "files": [local]},
        {"sample": "eos", "label": "ttbar", "files": remote_files},
    ]
    events, cutflow = ingest(samples, tmp_path / "out", remote=FAST_RETRIES)
    frame = pq.read_table(events).to_pandas().sort_values(["source_file", "entry"])
    disk = frame[frame.source_file == local].reset_index(drop=True)
    assert len(disk) > 50
    for remote_file in remote_files:
        remote = frame[frame.source_file == remote_file].reset_index(drop=True)
        assert remote.entry.tolist() == disk.entry.tolist()
        assert remote.event_number.tolist() == disk.event_number.tolist()
        np.testing.assert_array_equal(np.stack(remote.hfeatures), np.stack(disk.hfeatures))
        np.testing.assert_array_equal(np.concatenate(remote.lfeatures), np.concatenate(disk.lfeatures))
        assert remote.n_particles.tolist() == disk.n_particles.tolist()
    rows = [line.split("\t") for line in cutflow.read_text().splitlines()[1:]]
    assert all(int(ttbar) == 2 * int(wjets) for _, _, ttbar, wjets in rows)  # columns: cut, qcd, ttbar, wjets
    assert sorted(os.listdir(data)) == ["part_a.root", "part_b.root"]  # exported read-only, nothing added


@pytest.mark.reliability("bad input")
def test_a_missing_remote_file_is_named_without_retrying(xrootd, caplog):
    prefix, data = xrootd
    url = f"{prefix}/{data}/absent.root"
    with pytest.raises(InputError, match=rf"^{url}: no such file on the server \(.*\[3011\]"):
        plan_tasks([{"sample": "s", "label": "qcd", "files": [url]}], 100, FAST_RETRIES)
    assert "retrying" not in caplog.text  # XRootD's "not found" is final
    with pytest.raises(FileNotFoundError, match=rf"source '{prefix}/{data}/none_\*.root' matches no file"):
        expand_source(f"{prefix}/{data}/none_*.root", FAST_RETRIES)


def test_an_unreachable_server_fails_after_bounded_retries(caplog):
    url = f"root://127.0.0.1:{free_port()}//store/sample.root"  # nothing listens there
    with pytest.raises(InputError, match=rf"^{url}: cannot be opened after 2 attempts \(OSError: .*Connection error\)$"):
        plan_tasks([{"sample": "s", "label": "qcd", "files": [url]}], 100, FAST_RETRIES)
    assert caplog.text.count("retrying") == 1
