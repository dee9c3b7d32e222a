import subprocess
import sys

import pytest

import mitwin
from mitwin import cli


def test_version_and_core():
    assert mitwin.__version__.count(".") == 2
    from mitwin import _core

    assert isinstance(_core.openmp_enabled(), bool)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        mitwin.no_such_name  # noqa: B018


def test_every_export_resolves():
    for name in mitwin.__all__:
        if name == "__version__":
            continue
        assert getattr(mitwin, name) is not None, name


def test_import_does_not_pull_torch():
    code = "import sys, mitwin; mitwin.ActivationSolver; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert mitwin.__version__ in capsys.readouterr().out


def test_cli_requires_a_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
