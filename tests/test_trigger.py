"""The streaming trigger's accounting of time, on hand-made micro-batches (the stream itself runs in
tests/test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dltrigger.trigger.stream import stream_timing


def test_the_latency_accounting_sets_the_start_up_batch_apart():
    """Three micro-batches on 2 cores, the first slow (start-up). Steady state: the later chunks' latency
    (0.4, 0.3, 0.5 s); throughput 150 events in the 2.5 s from the first commit to the last, per core: 30;
    executors 2.5 s of CPU for 150 events: 16.7 ms each; overhead per later batch: 1.0 s between commits
    minus 0.5 s of work on its one chunk, 1.5 s minus 2.0 s of work spread over two cores: 0.5 s each."""
    metrics = pd.DataFrame(
        {
            "batch": [7, 8, 9],  # a restarted stream's first batch need not be 0
            "committed": [10.0, 11.0, 12.5],
            "processing_s": [3.5, 0.6, 1.2],
            "executor_s": [3.0, 0.5, 2.0],
            "chunks": [2, 1, 2],
            "events_read": [100, 50, 100],
        }
    )
    latency = pd.DataFrame({"batch": [7, 7, 8, 9, 9], "chunk": list("abcde"), "latency_s": [5.0, 6.0, 0.4, 0.3, 0.5]})
    timing = stream_timing(metrics, latency, cores=2)
    assert timing["first_batch_latency_s"] == 6.0 and timing["first_batch_events"] == 100
    assert timing["latency_p50_s"] == 0.4 and timing["latency_p99_s"] == pytest.approx(np.percentile([0.4, 0.3, 0.5], 99))
    assert timing["events_per_second_per_core"] == pytest.approx(150 / 2.5 / 2)
    assert timing["executor_ms_per_event"] == pytest.approx(2.5 / 150 * 1e3)
    assert timing["batch_overhead_s"] == pytest.approx(0.5)


def test_a_single_micro_batch_is_its_own_steady_state():
    metrics = pd.DataFrame({"batch": [0], "committed": [4.0], "processing_s": [2.0], "executor_s": [3.0], "chunks": [3], "events_read": [300]})
    latency = pd.DataFrame({"batch": [0, 0, 0], "chunk": list("abc"), "latency_s": [1.0, 2.0, 3.0]})
    timing = stream_timing(metrics, latency, cores=2)
    assert timing["latency_p50_s"] == 2.0 and timing["first_batch_latency_s"] == 3.0
    assert timing["events_per_second_per_core"] == pytest.approx(300 / 2.0 / 2)
    assert timing["batch_overhead_s"] == pytest.approx(2.0 - 3.0 / 2)
