"""Speed of PPMO on MinAtar: seconds per meta-epoch beside seconds per PPO update, and k-shot throughput.

    python -m benchmarks.minatar_speed                     # writes benchmarks/results/minatar_speed.json
    python -m benchmarks.minatar_speed --preset gpu        # the GPU-sized rollout

For each encoder split l in ``--encoder-layers`` it measures, on the same rollout (environment steps,
minibatch size, epochs):
1. seconds per PPMO meta-epoch (sampling learners, the inner step, rollouts, the meta-gradient
   through the inner step) and seconds per PPO update of the whole CNN (the paper, Atari on an A100:
   3.73 s vs 3.25 s, 1.15x);
2. seconds to sample and train 1000 k-shot learners (one SGD step each on the encoded images) and
   learners trained per hour (the paper: 0.18 s per learner on Atari).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import jax
import tyro

from benchmarks.machine import (
    describe_machine,
    ratio_verdict,
    time_image_split,
    write_record,
)


@dataclasses.dataclass
class Args:
    env: str = "Breakout"
    """MinAtar game."""
    preset: Literal["gpu", "cpu"] = "cpu"
    """Rollout sizes from the MinAtar presets (``jaxdistill.presets``)."""
    k: int = 16
    """Synthetic images."""
    encoder_layers: tuple[int, ...] = (0, 4)
    """Encoder splits to time."""
    timing_iterations: int = 5
    """Meta-epochs / PPO updates per timing measurement (after a warm-up)."""
    repeats: int = 5
    """Interleaved measurements; min and median are reported."""
    kshot_learners: int = 1000
    """Learners per k-shot throughput measurement."""
    out: Path = Path("benchmarks/results/minatar_speed.json")
    """Where the JSON record goes."""


def main(args: Args) -> dict:
    from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo
    from jaxdistill.envs import make, minatar_id
    from jaxdistill.presets import MINATAR_PPMO, minatar_learner
    from jaxdistill.rl.ppo import PPOConfig, make_ppo
    from jaxdistill.run.driver import make_trainer

    sizes = dataclasses.asdict(MINATAR_PPMO[args.preset])  # the preset's PPMO sizes, by field name
    env = make(minatar_id(args.env))
    n_it = args.timing_iterations
    record: dict = {"machine": describe_machine(), "env": minatar_id(args.env), "preset": args.preset, "k": args.k,
                    "paper_a100_atari": {"ppmo_s": 3.73, "ppo_s": 3.25, "ratio": 1.15, "seconds_per_learner": 0.18},
                    "splits": {}}
    ppo_config = PPOConfig(
        num_envs=sizes["num_learners"] * sizes["num_envs"], num_steps=sizes["num_steps"],
        num_minibatches=sizes["num_minibatches"], actor=minatar_learner(0), critic=minatar_learner(0, 1.0),
    )
    ppo_trainer = make_trainer(env, make_ppo(ppo_config, env.spec), n_it)
    ppo_state = ppo_trainer.init(jax.random.PRNGKey(0))
    ppo_chunk = ppo_trainer.chunk
    for layers in args.encoder_layers:
        learner = minatar_learner(layers)
        config = PPMOConfig(
            k=args.k, learner=learner, critic=minatar_learner(0, 1.0),
            num_learners=sizes["num_learners"], num_envs=sizes["num_envs"], num_steps=sizes["num_steps"],
            num_minibatches=sizes["num_minibatches"],
        )
        ppmo_trainer = make_trainer(env, make_ppmo(config, env.spec).agent, n_it)
        state = ppmo_trainer.init(jax.random.PRNGKey(0))
        ppmo_chunk = ppmo_trainer.chunk
        record["splits"][f"l={layers}"] = {
            "env_steps_per_iteration": config.env_steps_per_meta_epoch,
            "minibatch_size": config.env_steps_per_meta_epoch // config.num_minibatches,
            "update_epochs": config.update_epochs,
            **time_image_split(lambda: ppmo_chunk(state), lambda: ppo_chunk(ppo_state), state.agent, learner,
                               env.spec.obs_shape, env.spec.num_actions, args.kshot_learners, args.repeats, n_it),
        }
        print(f"l={layers}:", json.dumps(record["splits"][f"l={layers}"]), flush=True)
    record.update(ratio_verdict(record["splits"]))
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
