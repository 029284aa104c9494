"""Run one function over many cases in parallel: a local process pool or a Dask cluster.

Outcomes come back to the calling process in completion order, so that it alone writes the
results (workers never open the study database). Work for GPUs (``gpu=True``) runs on one
Dask worker per GPU: ``dask="local"`` starts them, one process per visible GPU with
``CUDA_VISIBLE_DEVICES`` set to it and a ``GPU`` resource of 1 (as dask-cuda's
LocalCUDACluster does, with plain ``distributed``); on a cluster whose workers declare
``GPU`` resources (``dask worker --resources GPU=1``, one per GPU) each case asks for one. At most one case per worker slot is in
flight, so a crash loses only those; the case arguments (for example file bytes shipped to
another machine) are built one case ahead of a free slot, not all at once. Local workers end
with the calling process however it ends (:mod:`core.jobs.lifeline`); a stop signal noted by
:func:`core.jobs.signals.deferred_signals` is raised between cases, and the workers are stopped.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from core.jobs import lifeline
from core.jobs.lifeline import THREAD_VARIABLES
from core.jobs.signals import raise_if_signalled

if TYPE_CHECKING:
    from distributed import Client

WORKER_DIED = "its worker process ended unexpectedly (killed, or out of memory?); run the job again to retry"


@dataclass(frozen=True)
class Outcome:
    """What one case gave: ``value`` or an ``error`` message; timing and memory from its worker."""

    case_id: str
    value: Any = None
    error: str | None = None
    seconds: float | None = None        # wall time of the call inside the worker
    peak_rss_mib: float | None = None   # the worker process's peak resident memory so far, MiB

    @property
    def ok(self) -> bool:
        return self.error is None


def default_workers(memory_per_worker: int | None = None) -> int:
    """The CPU cores this process may use; with ``memory_per_worker`` (bytes), no more workers
    than the memory available now can hold (at least one)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if not memory_per_worker:
        return cores
    import psutil

    return max(1, min(cores, psutil.virtual_memory().available // memory_per_worker))


def visible_gpus() -> list[str]:
    """Ids of the CUDA devices this process may use: ``CUDA_VISIBLE_DEVICES``'s entries when it is
    set, else 0..n-1 for the n devices torch counts (none without torch or CUDA)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and not d.strip().startswith("-")]
    try:
        import torch
    except ImportError:
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


def run_cases(fn: Callable[..., Any], cases: Iterable[tuple[str, tuple]], *, workers: int | None = None,
              dask: "str | Client | None" = None, should_stop: Callable[[], bool] | None = None,
              poll_s: float = 1.0, gpu: bool = False) -> Iterator[Outcome]:
    """Yield an :class:`Outcome` per case as each finishes.

    ``fn`` must be importable by module and name (workers are fresh interpreters); it is
    called as ``fn(*args)`` for each ``(case_id, args)`` of ``cases``, which is read lazily.
    ``workers``: local worker processes (default: every core), each allowed cores/workers
    threads; with ``dask="local"``, the LocalCluster's processes. ``dask``: None for the local
    pool, ``"local"`` for a LocalCluster, a scheduler address (``tcp://host:8786``), or a
    ``distributed.Client``. ``should_stop`` is polled every ``poll_s`` seconds; once true no
    new case starts and the cases in flight finish and are yielded. An exception raised by
    ``fn`` becomes the outcome's error; a dead worker fails the cases in flight, and the pool
    is started again for the rest. A stop signal noted by
    :func:`~core.jobs.signals.deferred_signals` raises :class:`~core.jobs.signals.Interrupted`
    here (within ``poll_s``), and the local workers are killed with their cases.
    ``gpu``: the cases want a GPU each (see the module docstring); with ``dask="local"`` and
    no visible GPU, an ordinary LocalCluster runs them.
    """
    pending = iter(cases)
    item = next(pending, None)          # the next case to submit; None when all are submitted
    stopping = False
    while item is not None and not stopping:
        with _executor(workers, dask, fn.__module__, gpu) as (executor, slots):
            in_flight: dict[Future, str] = {}
            broken = False
            while True:
                raise_if_signalled()
                while item is not None and not (stopping or broken) and len(in_flight) < slots:
                    case_id, args = item
                    in_flight[executor.submit(_call, fn, case_id, args)] = case_id
                    item = next(pending, None)
                if not in_flight:
                    break
                finished, _ = wait(in_flight, timeout=poll_s, return_when=FIRST_COMPLETED)
                raise_if_signalled()  # before the outcomes: a signal to the group may have killed workers
                for future in finished:
                    case_id = in_flight.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        outcome = Outcome(case_id, error=WORKER_DIED)
                    except Exception as exc:  # a Dask worker lost, cancelled, or the scheduler gone
                        outcome = Outcome(case_id, error=_message(exc))
                    yield outcome
                if should_stop is not None and not stopping and should_stop():
                    stopping = True


def _call(fn: Callable[..., Any], case_id: str, args: tuple) -> Outcome:
    """Runs in the worker: one case, timed, its exception turned into a message."""
    start = time.perf_counter()
    try:
        value, error = fn(*args), None
    except Exception as exc:
        value, error = None, _message(exc)
    return Outcome(case_id, value, error, time.perf_counter() - start, _peak_rss_mib())


def _message(exc: BaseException) -> str:
    """A ValueError's message is meant for users as it is; anything else is named by its type."""
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _peak_rss_mib() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if os.uname().sysname == "Darwin" else peak / 2**10


@contextmanager
def _executor(workers: int | None, dask: "str | Client | None", module: str,
              gpu: bool = False) -> Iterator[tuple[Executor, int]]:
    """An executor and how many cases it runs at once; shut down without waiting on exit, and
    local workers killed when an exception (a stop signal, the caller closing the generator) ends it.

    Local workers are forked from a fresh server process that has imported ``module`` once
    (forkserver), so each starts in milliseconds; ``spawn`` where forkserver is missing.
    """
    if dask is None:
        cores = default_workers()
        workers = workers or cores
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(dict.fromkeys(["core.jobs.forkserver_init", "__main__", module])))
            lifeline.ensure_forkserver()
        else:
            context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=context,
            initializer=lifeline.init_worker, initargs=(max(1, cores // workers), *lifeline.owner_identity()))
        try:
            yield executor, workers
        except BaseException:
            _kill_workers(executor)
            raise
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        return
    with _dask_client(workers, dask, visible_gpus() if gpu else []) as client:
        gpu_workers = _gpu_workers(client) if gpu else {}
        if gpu_workers:                 # one case per GPU at a time, on the workers that have one
            executor = client.get_executor(pure=False, resources={"GPU": 1})
            slots = int(sum(gpu_workers.values()))
        else:
            executor = client.get_executor(pure=False)
            slots = sum(client.nthreads().values())
        try:
            yield executor, max(1, slots)
        finally:
            executor.shutdown(wait=False)


def _kill_workers(executor: ProcessPoolExecutor) -> None:
    """SIGKILL the pool's worker processes (their cases are abandoned). ``_processes`` is the
    executor's own map of them; Python 3.14 adds ``kill_workers()`` for this."""
    for process in list((executor._processes or {}).values()):
        process.kill()


def _gpu_workers(client: "Client") -> dict[str, float]:
    """Worker address -> its ``GPU`` resource, for the workers that declare one."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return {address: info["resources"]["GPU"] for address, info in workers.items()
            if info.get("resources", {}).get("GPU", 0) >= 1}


@contextmanager
def _dask_client(workers: int | None, dask: "str | Client", gpus: list[str] = ()) -> Iterator["Client"]:
    """The given client, a client of a new local cluster (``"local"``: a LocalCluster, or one
    worker per GPU of ``gpus``), or one connected to an address."""
    import dask as dask_config
    from distributed import Client, LocalCluster

    if isinstance(dask, Client):
        yield dask
        return
    if dask != "local":
        with Client(dask) as client:
            yield client
        return
    environ = {f"distributed.nanny.pre-spawn-environ.{name}": 1 for name in THREAD_VARIABLES}
    with dask_config.config.set(environ):
        cluster = gpu_cluster(gpus) if gpus else LocalCluster(
            n_workers=workers or default_workers(), threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        yield client


def gpu_cluster(gpus: list[str]):
    """A local ``distributed.SpecCluster`` of one single-threaded worker process per GPU id in
    ``gpus``: each sees only its GPU (``CUDA_VISIBLE_DEVICES``) and declares ``{"GPU": 1}``."""
    from distributed import Nanny, Scheduler, SpecCluster

    spec = {f"gpu-{gpu}": {"cls": Nanny, "options": {"nthreads": 1, "resources": {"GPU": 1},
                                                      "env": {"CUDA_VISIBLE_DEVICES": gpu}}}
            for gpu in gpus}
    return SpecCluster(workers=spec, scheduler={"cls": Scheduler, "options": {"dashboard_address": None}},
                       name="gpu-cluster")
