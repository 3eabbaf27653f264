"""The golden examples: every examples/<function>-<case>/ folder run as `kfkrm FUNCTION` runs it.

Each folder holds fn-config.yaml, resources.yaml (the input items) and .expected/ with
output.yaml (the ResourceList on stdout), stderr.txt and exit-code (absent means 0).
KFKRM_UPDATE_GOLDEN=1 rewrites .expected/ from the current code: review the diff by eye,
a regenerated golden file is not an oracle by itself.
"""

import os

import pytest

from helpers import BY_NAME, function_of_case, golden_cases, golden_input, run_cli, run_golden

UPDATE = os.environ.get("KFKRM_UPDATE_GOLDEN") == "1"
CASES = golden_cases()


def _expected(case):
    exp = case / ".expected"
    code = exp / "exit-code"
    return (
        (exp / "output.yaml").read_text(),
        (exp / "stderr.txt").read_text(),
        int(code.read_text()) if code.exists() else 0,
    )


def _write(case, outcome):
    exp = case / ".expected"
    exp.mkdir(exist_ok=True)
    (exp / "output.yaml").write_text(outcome.stdout)
    (exp / "stderr.txt").write_text(outcome.stderr)
    code = exp / "exit-code"
    if outcome.exit_code:
        code.write_text(f"{outcome.exit_code}\n")
    elif code.exists():
        code.unlink()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_example(case):
    outcome = run_golden(case)
    if UPDATE:
        _write(case, outcome)
    output, stderr, exit_code = _expected(case)
    assert (outcome.exit_code, outcome.stderr) == (exit_code, stderr)
    assert outcome.stdout == output


def test_every_function_has_its_simple_example():
    assert [n for n in BY_NAME if not (CASES[0].parent / f"{n}-simple" / "fn-config.yaml").exists()] == []


def test_every_example_names_a_function_and_has_its_files():
    for case in CASES:
        assert function_of_case(case) in BY_NAME
        assert (case / "resources.yaml").exists(), case.name
        assert (case / ".expected" / "output.yaml").exists(), case.name
        assert (case / ".expected" / "stderr.txt").exists(), case.name


def test_the_command_gives_what_the_driver_gives():
    """The driver runs in-process; one case through `python -m kfkrm NAME` shows it is the CLI's path."""
    case = next(c for c in CASES if c.name == "pod-template-labels-simple")
    proc = run_cli([function_of_case(case)], golden_input(case))
    output, stderr, exit_code = _expected(case)
    assert (proc.returncode, proc.stderr, proc.stdout) == (exit_code, stderr, output)
