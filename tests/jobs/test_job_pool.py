"""The case runner: outcomes in completion order, errors kept per case, a dead worker fails only
its cases, a stop request lets no new case start, and a Dask cluster gives the same outcomes."""
from __future__ import annotations

import math
import operator
import os
import time
from types import SimpleNamespace

import psutil
import pytest

from core.jobs import default_workers, run_cases
from core.jobs.pool import WORKER_DIED


def _by_case(outcomes):
    return {o.case_id: o for o in outcomes}


def test_values_and_errors_come_back_per_case():
    out = _by_case(run_cases(math.sqrt, [("a", (4,)), ("b", (-1,)), ("c", (9,))], workers=2))
    assert (out["a"].value, out["c"].value) == (2.0, 3.0) and out["a"].ok
    assert not out["b"].ok and out["b"].error == "math domain error"   # a ValueError's message as it is
    assert out["a"].seconds >= 0 and out["a"].peak_rss_mib > 1


def test_other_exceptions_are_named_by_type():
    out = _by_case(run_cases(operator.truediv, [("x", (1, 0))], workers=1))
    assert out["x"].error == "ZeroDivisionError: division by zero"


def test_a_dead_worker_fails_its_case_and_the_rest_still_run():
    cases = [("first", (math.sqrt, 4)), ("killer", (os._exit, 3)), ("after", (math.sqrt, 16))]
    out = _by_case(run_cases(operator.call, cases, workers=1))
    assert out["first"].value == 2.0 and out["after"].value == 4.0
    assert out["killer"].error == WORKER_DIED


def test_stop_request_lets_no_new_case_start():
    seen = []
    for outcome in run_cases(time.sleep, [(str(i), (0.2,)) for i in range(6)], workers=1,
                             should_stop=lambda: bool(seen)):
        seen.append(outcome.case_id)
    assert seen == ["0"]


def test_cases_are_read_lazily_one_per_free_slot():
    made = []

    def cases():
        for i in range(4):
            made.append(i)
            yield str(i), (0.05,)

    for outcome in run_cases(time.sleep, cases(), workers=1):
        assert len(made) <= int(outcome.case_id) + 2


def test_default_workers_fit_in_the_available_memory(monkeypatch):
    cores = default_workers()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=3 * 2**30))
    assert default_workers(2**30) == min(3, cores)
    assert default_workers(10 * 2**30) == 1


def test_nothing_to_do_starts_no_workers():
    assert list(run_cases(math.sqrt, [], dask="tcp://192.0.2.1:8786")) == []   # would not connect


def test_dask_local_cluster_gives_the_same_outcomes():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        out = _by_case(run_cases(math.sqrt, [("a", (4,)), ("b", (-1,))], dask=client))
    assert out["a"].value == 2.0 and out["b"].error == "math domain error"
