"""pyproject.toml: the wheel `pip` builds carries the shipped weights and an SPDX licence without a setuptools
warning, and installed from it the kit works as the README says (the five lines, an attack, scoring over fresh
draws) while `cnr reproduce` names what to clone instead of doing nothing. One wheel, built once; skipped where pip
cannot build it."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile

import pytest

from cnr.paths import REPO_ROOT, WEIGHTS_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(out), str(REPO_ROOT)], capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        pytest.skip(f"pip cannot build a wheel here: {build.stderr.strip()[-300:]}")
    return next(out.glob("cnr-*.whl")), build.stdout + build.stderr


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh venv with the wheel and, for its dependencies, this interpreter's packages on the path (no download;
    a path in a .pth file adds the folder without running the .pth files inside it, so not this checkout's cnr)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (venv / purelib.split(str(venv) + "/", 1)[1] / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    # --force-reinstall: the dependencies' folder holds this checkout's editable cnr, which pip would take as there
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                           "--force-reinstall", "-q", str(wheel[0])], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"pip cannot install the wheel here: {done.stderr.strip()[-300:]}")
    return python


def test_the_wheel_carries_the_shipped_weights_and_an_spdx_licence_without_warnings(wheel):
    path, log = wheel
    assert "Deprecat" not in log and "license" not in log.lower(), log
    names = set(zipfile.ZipFile(path).namelist())
    shipped = {str(p.relative_to(REPO_ROOT)) for p in WEIGHTS_DIR.rglob("*.safetensors")
               if not p.name.endswith(".ckpt.safetensors")}
    assert shipped and shipped <= names
    assert not any(n.startswith(("notebooks/", "results/", "tests/")) for n in names)
    meta = zipfile.ZipFile(path).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in meta
    if (REPO_ROOT / ".git").exists():  # what the build leaves in the checkout is ignored, so `git status` stays clean
        for left in ("build/", "dist/", "cnr.egg-info/"):
            ignored = subprocess.run(["git", "-C", str(REPO_ROOT), "check-ignore", "-q", left], timeout=60)
            assert ignored.returncode == 0, f"{left} is not in .gitignore"


def test_installed_the_api_runs_as_the_readme_says_and_reproduce_names_what_to_clone(installed, tmp_path):
    script = '''
import torch, cnr
from torch import nn
torch.manual_seed(0)
my_model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))
x = torch.rand(2, 3, 32, 32)
y = my_model(x).argmax(1)
run = cnr.resolve_run("quick")
bank = cnr.RestorerBank.load(run.bank_dir("natural"))
defended = cnr.Defended(cnr.CompressRestore(bank, qf_range=(20, 60), n_iter=1, mode="dynamic"), my_model)
assert defended(x).shape == (2, 3)
result = cnr.run_attack("pgd", defended, x, y, 8 / 255, norm="linf", steps=1, eot=2)
e = cnr.evaluate(defended, result.x_adv, y, draws=3)
assert e.draws == 3 and 0 <= e.worst_accuracy <= e.accuracy <= 1
print(cnr.__file__)
'''
    env = {"OMP_NUM_THREADS": "1", "GIT_PYTHON_REFRESH": "quiet", "PATH": "/usr/bin:/bin"}
    api = subprocess.run([str(installed), "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=300)
    assert api.returncode == 0, api.stderr
    assert str(REPO_ROOT / "cnr") not in api.stdout and "site-packages/cnr/__init__.py" in api.stdout
    cli = subprocess.run([str(installed), "-m", "cnr", "reproduce", "--profile", "smoke"], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=300)
    assert cli.returncode == 2 and "Clone the kit's source repository" in cli.stderr, cli.stderr
    assert "total" not in cli.stdout and not (tmp_path / "results").exists()
