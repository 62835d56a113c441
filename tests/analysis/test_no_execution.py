"""Reading code never runs code: a compiled module inside the analysed tree is never imported
(Jedi would import it to inspect it), whatever the analysed file asks Jedi about it."""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

import pytest

from torchlint.checker import Checker
from torchlint.config import Config

TRAIN = "import torch\nimport evilext\nmodel = evilext.Model()\nclass Net(evilext.Base):\n    pass\n"


def _build_extension(d: Path, marker: Path) -> None:
    """A real extension module whose import writes `marker`."""
    (d / "evilext.c").write_text(
        "#include <Python.h>\n#include <stdio.h>\n"
        'static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "evilext", NULL, -1, NULL};\n'
        f'PyMODINIT_FUNC PyInit_evilext(void) {{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f);'
        " return PyModule_Create(&m); }\n"
    )
    out = d / f"evilext{sysconfig.get_config_var('EXT_SUFFIX')}"
    cmd = ["gcc", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", str(d / "evilext.c"), "-o", str(out)]
    try:
        built = subprocess.run(cmd, capture_output=True).returncode == 0
    except FileNotFoundError:
        built = False
    if not built:
        pytest.skip("no C compiler or Python headers")


def test_compiled_module_in_the_tree_is_never_imported(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    marker = tmp_path / "imported"
    _build_extension(ws, marker)
    (ws / "train.py").write_text(TRAIN)

    checker = Checker(Config(), root=ws)
    checker.check_file(str(ws / "train.py"), TRAIN)
    assert not marker.exists(), "analysing the file imported a compiled module of the analysed tree"

    # The control: the same analysis with Jedi allowed to load unsafe extensions does import it,
    # so the check above really reached the point where Jedi inspects `evilext`.
    import jedi

    control = Checker(Config(), root=ws)
    control.workspace._jedi_project = jedi.Project(ws, load_unsafe_extensions=True)
    control.check_file(str(ws / "train.py"), TRAIN)
    assert marker.exists()
