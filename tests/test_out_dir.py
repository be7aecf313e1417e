"""The results directory is checked, created and claimed before anything is compiled.

A path that cannot be a results directory fails at once with one line naming `out_dir` / `--out` (it
used to fail after the compile, with a traceback); a directory in use by another run is refused (two
runs used to write into one directory, the later one silently overwriting the other's files). Tests
that must fail before compiling replace the runner's program construction with a tripwire.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from purerl import cli, results, runner
from tests._tiny_ppo import TINY_CLI_SETS, run_sweep


@pytest.fixture
def no_compile(monkeypatch):
    """Fail the test if the runner gets as far as building its programs."""

    def tripwire(*args, **kwargs):
        raise AssertionError("the runner reached its programs: the directory was not checked first")

    monkeypatch.setattr(runner, "_get_program", tripwire)


def _argv(out: Path) -> list[str]:
    return ["train", "ppo", "--env=CartPole-v1", *TINY_CLI_SETS, "--seeds=2", f"--out={out}", "--no-progress"]


def test_a_file_at_out_dir_is_refused_before_compiling(tmp_path, no_compile):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    with pytest.raises(ValueError, match=r"out_dir \(--out\) .*notes\.txt exists and is not a directory"):
        run_sweep(out_dir=path)
    assert path.read_text() == "keep me"


def test_a_path_below_a_file_is_refused_before_compiling(tmp_path, no_compile):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"out_dir \(--out\) .*file/run cannot be created"):
        run_sweep(out_dir=tmp_path / "file" / "run")


def test_a_missing_directory_is_created(tmp_path, no_compile):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(AssertionError, match="reached its programs"):
        run_sweep(out_dir=out)
    assert out.is_dir() and not (out / results.LOCK_FILE).exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_refused_before_compiling(tmp_path, no_compile):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(ValueError, match=r"out_dir \(--out\) .*ro is not writable"):
            run_sweep(out_dir=out)
    finally:
        out.chmod(0o755)


def test_an_unwritable_directory_is_refused_before_compiling(tmp_path, no_compile, monkeypatch):
    """What a read-only directory does for a non-root user (this suite may run as root, which may write
    into a chmod 555 directory): creating the lock file fails with EACCES."""

    def denied(path, text):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(results, "_create_exclusive", denied)
    with pytest.raises(ValueError, match=r"out_dir \(--out\) .* is not writable: Permission denied"):
        run_sweep(out_dir=tmp_path)


def test_cli_bad_out_is_one_line_without_traceback(tmp_path, no_compile, capsys):
    path = tmp_path / "file"
    path.write_text("")
    assert cli.main(_argv(path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("purerl: error: out_dir (--out) ") and err.count("\n") == 1, err


# ----------------------------------------------------------------------------------------------------
# The lock


def _write_lock(out: Path, pid: int, host: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    holder = {"host": host or socket.gethostname(), "pid": pid}
    (out / results.LOCK_FILE).write_text(json.dumps(holder))


def test_a_directory_in_use_by_a_live_process_is_refused(tmp_path, no_compile):
    """What a second `purerl train` on the same --out sees while the first one runs (or compiles)."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        _write_lock(tmp_path, other.pid)
        with pytest.raises(ValueError, match=rf"{tmp_path} is in use by process {other.pid} on "):
            run_sweep(out_dir=tmp_path)
        assert json.loads((tmp_path / results.LOCK_FILE).read_text())["pid"] == other.pid  # left alone
    finally:
        other.kill()
        other.wait()


def test_a_lock_from_another_host_is_refused(tmp_path, no_compile):
    _write_lock(tmp_path, 1, host="elsewhere.invalid")
    with pytest.raises(ValueError, match=r"in use by process 1 on elsewhere\.invalid.*delete .*\.lock"):
        run_sweep(out_dir=tmp_path)


def test_a_second_run_during_the_compile_is_refused(tmp_path, monkeypatch):
    """The directory is claimed before compiling: a run started on it meanwhile fails at once and the first
    run completes untouched."""
    real = runner._get_program
    second: list[BaseException] = []

    def get_program_and_start_another_run(*args, **kwargs):
        if not second:
            second.append(AssertionError("the second run did not return"))
            try:
                run_sweep(out_dir=tmp_path)
            except ValueError as err:
                second[0] = err
            else:
                second[0] = AssertionError("the second run was not refused")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_get_program", get_program_and_start_another_run)
    first = run_sweep(out_dir=tmp_path)
    assert isinstance(second[0], ValueError), second[0]
    assert f"{tmp_path} is in use by process {os.getpid()}" in str(second[0])
    assert first.summary["complete"] and (tmp_path / "summary.json").is_file()
    assert not (tmp_path / results.LOCK_FILE).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    _write_lock(tmp_path, dead.pid)
    with pytest.warns(UserWarning, match=rf"left by process {dead.pid}, which no longer runs: taking it"):
        partial = run_sweep(out_dir=tmp_path, stop_after_chunks=1)
    assert partial.summary["blocks_done"] == 1
    assert not (tmp_path / results.LOCK_FILE).exists()


def test_the_lock_is_released_when_the_run_fails(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("compile failed")

    monkeypatch.setattr(runner, "_get_program", broken)
    with pytest.raises(RuntimeError, match="compile failed"):
        run_sweep(out_dir=tmp_path)
    assert not (tmp_path / results.LOCK_FILE).exists()
