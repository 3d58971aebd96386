"""A pytest hook for mutation runs only: bench/mutation.py appends it to the scratch copy's conftest.

mutmut runs the clean test pass in one process and then forks a child per mutant. A test that
started multiprocessing's fork server in the parent (the builder's ``--workers``, the checker's
killable CAS workers) leaves a server the child cannot wait on, so every later pool in the child
fails with ``ChildProcessError`` and the mutant is wrongly counted as killed. Before each test,
a fork server that is not this process's child is forgotten, so the child starts its own.
"""

import os
from multiprocessing import forkserver


def pytest_runtest_setup(item) -> None:
    server = forkserver._forkserver
    pid = server._forkserver_pid
    if pid is None:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # started by the parent process: not ours to use
        server._forkserver_pid = None
        server._forkserver_address = None
        server._forkserver_alive_fd = None
