"""Speed of PPMO on Atari (EnvPool, host-stepped): seconds per meta-epoch beside seconds per PPO update.

    python -m benchmarks.atari_speed                        # Pong, the CPU preset's rollout
    python -m benchmarks.atari_speed --env Centipede --preset gpu

On the same game and rollout size (games x steps, minibatch size, epochs) it times one PPMO
meta-epoch (sampling learners, the inner step on the synthetic frames, the host-stepped rollout,
the meta-gradient) and one PPO update of the Nature CNN, for each encoder split in
``--encoder-layers``, plus the seconds to sample and train 1000 k-shot learners (the paper, on an
A100: 3.73 s vs 3.25 s per epoch, 0.18 s per learner). Writes ``benchmarks/results/atari_speed.json``.
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
    env: str = "Pong"
    """ALE game."""
    preset: Literal["gpu", "cpu"] = "cpu"
    """Rollout sizes from experiments.atari's presets."""
    encoder_layers: tuple[int, ...] = (0, 4)
    """Encoder splits to time."""
    repeats: int = 3
    """Interleaved measurements (one meta-epoch / update each); min and median are reported."""
    kshot_learners: int = 100
    """Learners per k-shot training measurement."""
    out: Path = Path("benchmarks/results/atari_speed.json")
    """Where the JSON record goes."""


def main(args: Args) -> dict:
    from jaxdistill.distill.kmin import k_min
    from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo
    from jaxdistill.envs import make
    from jaxdistill.presets import ATARI_PPMO, nature_cnn
    from jaxdistill.rl.ppo import PPOConfig, make_ppo
    from jaxdistill.run.driver import make_trainer

    sizes = dataclasses.asdict(ATARI_PPMO[args.preset])  # the preset's PPMO sizes, by field name
    env = make(f"{args.env}-v5")
    spec = env.spec
    games = sizes["num_learners"] * sizes["num_envs"]
    k = k_min(spec.num_actions)
    record: dict = {"machine": describe_machine(), "env": spec.env_id, "preset": args.preset, "k": k,
                    "env_steps_per_iteration": games * sizes["num_steps"], "rollout": "EnvPool stepped on the host",
                    "paper_a100": {"ppmo_s": 3.73, "ppo_s": 3.25, "ratio": 1.15, "seconds_per_learner": 0.18},
                    "splits": {}}
    ppo_config = PPOConfig(num_envs=games, num_steps=sizes["num_steps"],
                           num_minibatches=sizes["num_minibatches"], clip_eps=0.1, actor=nature_cnn(0),
                           critic=nature_cnn(0, 1.0))
    ppo_trainer = make_trainer(env, make_ppo(ppo_config, spec), 1)
    ppo_state = ppo_trainer.init(jax.random.PRNGKey(0))
    for layers in args.encoder_layers:
        learner = nature_cnn(layers)
        config = PPMOConfig(k=k, learner=learner, critic=nature_cnn(0, 1.0),
                            num_learners=sizes["num_learners"], num_envs=sizes["num_envs"],
                            num_steps=sizes["num_steps"], num_minibatches=sizes["num_minibatches"], clip_eps=0.1)
        ppmo_trainer = make_trainer(env, make_ppmo(config, spec).agent, 1)
        state = ppmo_trainer.init(jax.random.PRNGKey(1))
        record["splits"][f"l={layers}"] = time_image_split(
            lambda: ppmo_trainer.chunk(state)[0], lambda: ppo_trainer.chunk(ppo_state)[0], state.agent, learner,
            spec.obs_shape,
            spec.num_actions, args.kshot_learners, args.repeats)
        print(f"l={layers}:", json.dumps(record["splits"][f"l={layers}"]), flush=True)
    record.update(ratio_verdict(record["splits"]))
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
