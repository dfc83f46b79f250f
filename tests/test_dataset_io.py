import json

import jax
import numpy as np
import pytest

from jaxdistill.learn.dataset import DatasetFileError, init_dataset, load_dataset, save_dataset
from jaxdistill.nets.networks import LearnerSpec


@pytest.fixture
def saved(tmp_path):
    data = init_dataset(jax.random.PRNGKey(0), 3, (8,), 4, inner_lr=0.05)
    from jaxdistill.envs import make

    path = save_dataset(tmp_path / "ds", data, env_spec=make("CartPole2D-v1").spec, learner_spec=LearnerSpec(),
                        config={"k": 3})
    return data, path


def test_roundtrip_and_metadata(saved):
    data, path = saved
    loaded, meta = load_dataset(path, expect_obs_dim=8, expect_num_actions=4)
    np.testing.assert_array_equal(loaded.x, data.x)
    np.testing.assert_array_equal(loaded.y, data.y)
    assert float(loaded.inner_lr) == pytest.approx(0.05)
    assert (meta["env_id"], meta["obs_dim"], meta["num_actions"], meta["k"]) == ("CartPole2D-v1", 8, 4, 3)
    # Everything a learner in another framework needs, biases included (PyTorch's are not zero).
    assert "zero" in meta["learner_recipe"]["biases"] and "orthogonal" in meta["learner_recipe"]["weights"]
    assert meta["environment"]["action_space"] == {"type": "discrete", "n": 4}
    assert meta["learner_spec"]["hidden_sizes"] == [64, 64] and "jaxdistill_version" in meta
    with np.load(path / "dataset.npz") as f:
        assert {n: f[n].dtype for n in f.files} == {n: np.float32 for n in ("x", "y", "inner_lr")}
        assert f["inner_lr"].shape == ()
    load_dataset(path / "dataset.npz")  # the .npz path works too


def _rewrite(path, **arrays):
    with np.load(path / "dataset.npz") as f:
        current = {n: f[n] for n in f.files}
    current.update(arrays)
    current = {k: v for k, v in current.items() if v is not None}
    np.savez(path / "dataset.npz", **current)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(x=np.zeros((3, 8), np.float64)), "dtype float64"),
        (dict(y=np.full((3, 4), np.nan, np.float32)), "NaN or infinite"),
        (dict(y=np.zeros((2, 4), np.float32)), "3 instances but y has 2"),
        (dict(inner_lr=np.zeros((2,), np.float32)), "scalar"),
        (dict(inner_lr=None), "lacks array"),
        (dict(x=np.zeros((3, 6), np.float32)), "metadata says obs_dim=8"),
    ],
)
def test_bad_files_fail_with_a_clear_message(saved, change, message):
    _, path = saved
    _rewrite(path, **change)
    with pytest.raises(DatasetFileError, match=message):
        load_dataset(path)


def test_mismatch_with_the_environment_and_missing_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(DatasetFileError, match="8 features but the environment observes 4"):
        load_dataset(path, expect_obs_dim=4)
    with pytest.raises(DatasetFileError, match="4 actions but the environment has 2"):
        load_dataset(path, expect_num_actions=2)
    with pytest.raises(DatasetFileError, match="not found"):
        load_dataset(tmp_path / "nowhere")
    (path / "metadata.json").write_text("{not json")
    with pytest.raises(DatasetFileError, match="not valid JSON"):
        load_dataset(path)
    (path / "metadata.json").write_text(json.dumps({}))
    (path / "dataset.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetFileError, match="not a readable .npz"):
        load_dataset(path)
