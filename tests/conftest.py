import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest  # noqa: E402


@pytest.fixture
def kfkrm_exec(tmp_path):
    """An absolute-path executable running this checkout's kfkrm."""
    from helpers import kfkrm_exec_script

    return kfkrm_exec_script(tmp_path / "bin")
