"""The README's commands are the ones that work."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", _readme(), re.S)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    bash = _blocks("bash")
    assert "keras-ssl train" in bash[0] and "keras-ssl export" in bash[0]
    test_command = bash[1].strip()
    assert "pytest" in test_command
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci_lines = [line.strip() for line in f]
    assert test_command in ci_lines


def test_the_model_fit_example_runs(tmp_path):
    code = _blocks("python")[0]
    code = code.replace("epochs=10", "epochs=1")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        tmp_path / "saved_models" / "digits" / "1" / "saved_model.pb"
    ).exists()
