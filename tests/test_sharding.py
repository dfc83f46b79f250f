import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxdistill.core.sharding import check_divisible, population_mesh
from jaxdistill.launch import with_cpu_devices

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(480)  # about 50 s alone; a loaded machine (two studies beside the suite) took over 280 s
def test_sharded_kshot_evaluation_sweep_and_es_on_8_simulated_devices_match_one_device():
    env = with_cpu_devices(dict(os.environ), 8)  # the suite's other XLA flags kept
    dataset = ROOT / "experiments/results/cartpole2d_k3_ppmo_s0/dataset"
    proc = subprocess.run([sys.executable, str(ROOT / "tests/sharded_check.py"), str(dataset)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=460)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    eight, one = out["8"], out["1"]
    assert eight["devices"] == 8 and one["devices"] == 1
    assert len(eight["random_l"]) == len(one["random_l"]) == 197
    np.testing.assert_array_equal(eight["random_l"], one["random_l"])
    assert np.mean(eight["random_l"]) >= 364.0
    sweep = out["sweep"]
    assert sweep["sharded"]["devices"] == 8
    np.testing.assert_allclose(sweep["sharded"]["x"], sweep["single"]["x"], rtol=1e-5, atol=1e-6)
    es = out["es"]  # an ES generation's population over 8 devices: the same fitness and the same new mean
    assert es["sharded"]["devices"] == 8
    np.testing.assert_array_equal(es["sharded"]["fitness"], es["single"]["fitness"])
    np.testing.assert_allclose(es["sharded"]["mean_x"], es["single"]["mean_x"], rtol=1e-5, atol=1e-6)


def test_population_must_split_evenly():
    from types import SimpleNamespace

    eight = SimpleNamespace(size=8)  # check_divisible only reads the mesh's size
    check_divisible(1000, eight)
    with pytest.raises(ValueError, match="1001 learners do not split evenly over 8 devices"):
        check_divisible(1001, eight)
    check_divisible(7, None)
    assert population_mesh().axis_names == ("learners",)
