"""Time k-shot evaluation of 1000 learners per learner distribution on N-D cart-pole.

    python -m benchmarks.kshot_distributions          # 5-D, every Table 1 distribution
                                                      # -> benchmarks/results/kshot_distributions.json

For each distribution: the first call (compile + sample + one SGD step each + one full 500-step
episode each) and the best of ``--repeats`` further calls, on every device present (sharded).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import tyro

from benchmarks.machine import describe_machine, write_record


@dataclasses.dataclass
class Args:
    dims: int = 5
    """Cart-pole dimensions."""
    learners: int = 1000
    """Learners per call."""
    distributions: tuple[str, ...] = ("lambda", "ortho_std1", "xavier", "xavier_std1", "random_h", "random_l")
    """Distributions to time (see jaxdistill.learn.learners)."""
    dataset: Path | None = None
    """Dataset to train on; default the committed k_min dataset for --dims."""
    repeats: int = 3
    """Warm calls timed after the first."""
    out: Path = Path("benchmarks/results/kshot_distributions.json")
    """Where the JSON record goes."""


def main(args: Args) -> dict:
    from jaxdistill.core.sharding import population_mesh
    from jaxdistill.envs import cartpole_id, make
    from jaxdistill.eval.kshot import make_kshot_evaluate
    from jaxdistill.learn.dataset import load_dataset
    from jaxdistill.learn.learners import get_distribution, padded_learners

    path = args.dataset or Path(f"experiments/results/cartpole{args.dims}d_k{args.dims + 1}_ppmo_s0/dataset")
    env = make(cartpole_id(args.dims))
    dataset, _ = load_dataset(path, expect_obs_dim=env.obs_shape[0], expect_num_actions=env.num_actions)
    mesh = population_mesh() if args.learners % jax.device_count() == 0 else None
    record = {"machine": describe_machine(), "env_id": cartpole_id(args.dims), "dataset": str(path),
              "learners": args.learners, "devices_used": mesh.size if mesh else 1, "distributions": {}}
    for name in args.distributions:
        evaluate = make_kshot_evaluate(env, padded_learners(env, get_distribution(name)), args.learners, mesh=mesh)
        t0 = time.perf_counter()
        returns = jax.block_until_ready(evaluate(jax.random.PRNGKey(0), dataset))
        first = time.perf_counter() - t0
        warm = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(evaluate(jax.random.PRNGKey(i + 1), dataset))
            warm.append(time.perf_counter() - t0)
        record["distributions"][name] = {
            "first_call_s_including_compile": round(first, 3),
            "warm_call_s_min": round(min(warm), 3),
            "learners_trained_and_evaluated_per_hour_warm": round(args.learners * 3600 / min(warm)),
            "kshot_mean": float(returns.mean()), "kshot_std": float(returns.std()),
        }
        print(name, json.dumps(record["distributions"][name]), flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
