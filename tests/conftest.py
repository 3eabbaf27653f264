import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


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


@pytest.fixture
def kfkrm_exec(tmp_path):
    """An absolute-path executable running this checkout's kfkrm."""
    from helpers import kfkrm_exec_script

    return kfkrm_exec_script(tmp_path / "bin")
