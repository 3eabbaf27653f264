import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))

# The tests read and write whole releases in-process, as the kfkrm CLI does: the same GC
# thresholds (about 30% less CPU in the Python-heavy tests, the same peak memory).
from kfkrm.runtime.process import tune_gc  # noqa: E402

tune_gc()


import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Hypothesis profiles (tests/test_reader_differential.py). `ci`, the default: a fixed,
# reproducible set of examples (derandomize), the same on every run and machine, so a
# failure in CI is a failure on a developer's machine too. `deep`: many more examples from
# a random seed, to look for new cases (HYPOTHESIS_PROFILE=deep scripts/test.sh -k variations).
settings.register_profile("ci", max_examples=150, derandomize=True, deadline=None)
settings.register_profile("deep", max_examples=2000, derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionstart(session):
    """In the controller (or a run without xdist), before any worker starts: drop the disk
    cache's renders of other code (tests/render_cache.py)."""
    if not hasattr(session.config, "workerinput"):
        import render_cache

        render_cache.prune()


# -- keeping both cores busy (pytest-xdist, scripts/test.sh) ----------------------------------
#
# The suite is CPU-bound: on two cores, its wall time is its CPU time over two, unless a
# worker waits. Two things made workers wait. A file that starts late and runs long leaves
# the other worker idle at the end: files marked `heavy` (they run kustomize's per-call
# route, kpt or containers on whole releases) are sent first (scripts/test.sh passes
# --no-loadscope-reorder, so xdist keeps this order). And the per-call reference renders
# several files compare with (helpers.STAND_IN_ENVS, a minute for v1.10) were made by the
# first worker to ask while the other waited on its lock: the controller now starts them in
# one background process as soon as the workers have collected, and workers wait, if at
# all, while that process uses the CPU.


def pytest_collection_modifyitems(config, items):
    """Heavy files first, each file's tests in their own order (a stable sort)."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("heavy") else 1)


_BACKGROUND: dict = {}  # "process": the background renders, once the first worker has collected


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """In the controller, once: start the stand-in renders the collected tests compare with."""
    import render_cache
    from helpers import STAND_IN_USERS

    if "process" in _BACKGROUND or not render_cache.ENABLED:
        return
    _BACKGROUND["process"] = None
    if not any(nodeid.split("::", 1)[0].rsplit("/", 1)[-1] in STAND_IN_USERS for nodeid in ids):
        return
    import subprocess

    here = Path(__file__).resolve().parent
    code = "import helpers\nfor env in helpers.STAND_IN_ENVS:\n    helpers.stand_in_render(env)\n"
    log = render_cache.ROOT / "warm.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        _BACKGROUND["process"] = subprocess.Popen(
            [sys.executable, "-c", code], cwd=here, stdout=out, stderr=out, start_new_session=True
        )


def pytest_sessionfinish(session):
    """Stop the background renders if the tests ended first (a failure under -x, Ctrl-C)."""
    process = _BACKGROUND.get("process")
    if process is not None and process.poll() is None:
        import signal

        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        process.wait()


@pytest.fixture
def kfkrm_exec(tmp_path):
    """An absolute-path executable running this checkout's kfkrm."""
    from helpers import kfkrm_exec_script

    return kfkrm_exec_script(tmp_path / "bin")
