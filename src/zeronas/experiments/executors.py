"""Where a grid's cells run: here one at a time, in N local processes, or as Ray tasks.

An executor runs :class:`Task` s. A task is a label (the cell's path, which names every log line
of its worker and its line in the failure report) and a picklable call that rebuilds what it needs
from paths and settings: a worker never receives a dataset. :func:`run_tasks` gives each failed
task ``retries`` more attempts, lets every other task finish, then raises one line that names the
failures. Executors know nothing of cells; :mod:`zeronas.experiments.grid` makes the tasks.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from zeronas.errors import WriteError, ZeroNASError

Log = Callable[[str], None]
#: What a worker hands back: None when the task succeeded, else (exception type, one-line message).
Outcome = tuple[str, str] | None


@dataclass(frozen=True)
class Task:
    """One unit of work: ``call(log)`` computes it (picklable: it may run in another process)."""

    label: str
    call: Callable[[Log], object]


def cpu_count() -> int:
    """The CPUs this process may use (its affinity mask, e.g. a Slurm allocation), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Named(io.TextIOBase):
    """A worker's stderr: each line starts with its task's label, so the lines of N workers can
    be told apart; and it is no terminal, so progress is plain lines (N tqdm bars drawn on one
    terminal would overwrite each other)."""

    def __init__(self, stream: Any, label: str):
        self.stream, self.prefix, self.partial = stream, f"[{label}] ", ""

    def write(self, s: str) -> int:
        *lines, self.partial = (self.partial + s).split("\n")
        for line in lines:
            self.stream.write(self.prefix + line + "\n")
        return len(s)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def _stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)  # sys.stderr at call time: the worker's _Named one


def _in_worker(call: Callable[[Log], object], label: str, threads: int | None) -> Outcome:
    """Run one task in a worker process: its torch threads set, its lines named, its error
    returned as text (an exception object may not unpickle in the parent)."""
    if threads:
        torch.set_num_threads(threads)
    stderr = sys.stderr
    sys.stderr = named = _Named(stderr, label)
    try:
        call(_stderr_log)
    except Exception as exc:
        return type(exc).__name__, _one_line(exc)
    finally:
        if named.partial:
            named.write("\n")
        named.flush()
        sys.stderr = stderr
    return None


@dataclass
class Executor:
    """How the cells of a grid are computed.

    Attributes:
        jobs: tasks at once (None: the executor's default).
        threads: torch threads of each task (None: the executor's default). Float results on
            CPU can depend on the thread count, so equal ``threads`` give equal tables whatever
            the executor.
        retries: further attempts of a failed task.
        gpu: the tasks use a CUDA device (Ray gives each one GPU).
        address: the Ray cluster to join (``auto``: the one this node belongs to); None starts one.
    """

    jobs: int | None = None
    threads: int | None = None
    retries: int = 1
    gpu: bool = False
    address: str | None = None
    name: ClassVar[str] = ""

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Held while the tasks run, retries included (a Ray connection)."""
        yield

    def attempt(self, tasks: list[Task], log: Log) -> dict[str, str]:
        """Run ``tasks`` once, all of them even if some fail; returns label -> error of the failed ones."""
        raise NotImplementedError


def _collect(label: str, outcome: Outcome, failed: dict[str, str], done: int, total: int, log: Log) -> None:
    """Record the outcome of a task that ran in a worker. A failed write stops everything: the
    other cells would fail the same way (a full disk)."""
    if outcome is None:
        log(f"[finished] {label} ({done}/{total})")
        return
    kind, message = outcome
    if kind == "WriteError":
        raise WriteError(message.removeprefix("WriteError: "))
    failed[label] = message
    log(f"[failed] {label}: {message}")


class LocalExecutor(Executor):
    """This machine: ``jobs`` 1 (the default) runs the tasks one after the other in this process,
    as zeronas always did; more runs that many at once, each in its own process with
    ``threads`` torch threads (default: the CPUs divided by ``jobs``)."""

    name = "local"

    def attempt(self, tasks: list[Task], log: Log) -> dict[str, str]:
        if (self.jobs or 1) == 1:
            return self._here(tasks, log)
        return self._processes(tasks, log)

    def _here(self, tasks: list[Task], log: Log) -> dict[str, str]:
        failed: dict[str, str] = {}
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            for task in tasks:
                try:
                    task.call(log)
                except WriteError:
                    raise
                except Exception as exc:  # a cell's failure: the others still run
                    failed[task.label] = _one_line(exc)
                    log(f"[failed] {task.label}: {failed[task.label]}")
        finally:
            torch.set_num_threads(before)
        return failed

    def _processes(self, tasks: list[Task], log: Log) -> dict[str, str]:
        jobs = self.jobs or 1
        threads = self.threads or max(1, cpu_count() // jobs)
        # spawn, not fork: a forked child inherits torch's thread pools and locks in whatever
        # state the parent's threads left them (deadlocks), and fork is unavailable on macOS.
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"))
        failed: dict[str, str] = {}
        try:
            futures: dict[Future, Task] = {}
            for task in tasks:
                futures[pool.submit(_in_worker, task.call, task.label, threads)] = task
                log(f"[run] {task.label}")
            for n, future in enumerate(as_completed(futures), 1):
                label = futures[future].label
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker died (killed, out of memory): the pool is broken
                    outcome = type(exc).__name__, _one_line(exc)
                _collect(label, outcome, failed, n, len(tasks), log)
        except BaseException:
            # Ctrl-C, SIGTERM or a failed write: stop the workers now (their cells resume from
            # their last checkpoint on the next run), not after their cells end.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return failed


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ZeroNASError("--executor ray needs Ray: pip install 'zeronas[ray]'") from None
    return ray


class RayExecutor(Executor):
    """A Ray cluster: each task is a Ray task that declares ``threads`` CPUs (default 1) and one
    GPU when the grid's device is CUDA, so Ray places as many at once as the nodes hold (or
    ``jobs`` at most). Joins the cluster at ``address`` (``auto``: the one started with
    ``ray start`` on this node), uses the one this process already joined (``ray.init``), or
    starts a local one for the grid and stops it after."""

    name = "ray"

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        ray = _import_ray()
        started = not ray.is_initialized()
        if started:
            # The dashboard is a web server the grid does not need; it cannot be asked for when
            # joining a cluster (that cluster's head decides).
            extra = {} if self.address else {"include_dashboard": False}
            ray.init(address=self.address, **extra)
        try:
            yield
        finally:
            if started:
                ray.shutdown()

    def attempt(self, tasks: list[Task], log: Log) -> dict[str, str]:
        ray = _import_ray()
        threads = self.threads or 1
        # Retries are run_tasks' (the same for every executor), not Ray's.
        remote = ray.remote(_in_worker).options(num_cpus=threads, num_gpus=1 if self.gpu else 0, max_retries=0)
        waiting, running, failed = list(tasks), dict[Any, Task](), dict[str, str]()
        n = 0
        try:
            while waiting or running:
                while waiting and (self.jobs is None or len(running) < self.jobs):
                    task = waiting.pop(0)
                    running[remote.remote(task.call, task.label, threads)] = task
                    log(f"[run] {task.label}")
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    label = running.pop(ref).label
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the worker or its node died
                        outcome = type(exc).__name__, _one_line(exc)
                    n += 1
                    _collect(label, outcome, failed, n, len(tasks), log)
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
        return failed


#: The executors by their ``--executor`` name.
EXECUTORS: dict[str, type[Executor]] = {cls.name: cls for cls in (LocalExecutor, RayExecutor)}


def make_executor(
    name: str = "local",
    jobs: int | None = None,
    threads: int | None = None,
    retries: int = 1,
    gpu: bool = False,
    address: str | None = None,
) -> Executor:
    """The executor called ``name`` (see :data:`EXECUTORS`); one-line errors for what it cannot take."""
    if name not in EXECUTORS:
        raise ZeroNASError(f"--executor {name!r}: unknown (known: {', '.join(EXECUTORS)})")
    if address is not None and name != "ray":
        raise ZeroNASError("--ray-address needs --executor ray")
    if name == "ray":
        _import_ray()  # fail before the grid directory is made
    return EXECUTORS[name](jobs, threads, retries, gpu, address)


def run_tasks(executor: Executor, tasks: list[Task], log: Log) -> None:
    """Run every task on ``executor``; retry the failed ones ``executor.retries`` times; then, if
    some still fail, raise one :class:`ZeroNASError` that lists them (every other task has finished)."""
    if not tasks:
        return
    todo, failed = list(tasks), {}
    with executor.session():
        for attempt in range(1, executor.retries + 2):
            failed = executor.attempt(todo, log)
            todo = [t for t in todo if t.label in failed]
            if not todo:
                return
            if attempt <= executor.retries:
                log(f"[retry] attempt {attempt + 1} of {executor.retries + 1}: {', '.join(t.label for t in todo)}")
    listed = "; ".join(f"{t.label} ({failed[t.label]})" for t in todo)
    raise ZeroNASError(
        f"{len(todo)} of {len(tasks)} cells failed after {executor.retries + 1} attempt(s), the others finished: "
        f"{listed}; re-run the same command to retry them"
    )
