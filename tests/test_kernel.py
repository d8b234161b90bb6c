"""cnr.kernel: the `cnr` Jupyter kernel carries the kit's environment."""
from __future__ import annotations


def test_cnr_kernel_spec_carries_the_environment(tmp_path):
    import json

    from cnr.kernel import install, kernel_spec

    spec = kernel_spec()
    assert spec["env"]["OMP_WAIT_POLICY"] == "PASSIVE" and spec["argv"][1:3] == ["-m", "ipykernel_launcher"]
    folder = install(prefix=str(tmp_path))
    assert json.loads((folder / "kernel.json").read_text())["env"] == spec["env"]
