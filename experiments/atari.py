"""Distil an Atari game (EnvPool, stepped on the host) into k synthetic frames with PPMO, or train PPO.

    python -m experiments.atari --env Centipede                        # GPU-sized defaults, k = k_min = 10
    python -m experiments.atari --env Pong --preset cpu                # the small preset: minutes on a CPU
    python -m experiments.atari --env Centipede --encoder-layers 4     # encoder rollback (Algorithm 2), l = 4
    python -m experiments.atari --env Pong --method ppo                # CleanRL-style PPO, the baseline
    python -m experiments.atari --env Pong --preset cpu --resume       # continue from the last checkpoint

The learner is the PPO Nature CNN (the paper's α_a: conv 32 8x8/4, conv 64 4x4/2, conv 64 3x3/1,
dense 512, output) split at ``--encoder-layers l``. Environments are EnvPool ``<Game>-v5`` with
CleanRL's preprocessing (84x84 grey, 4-frame stack, no-op starts, episodic life and clipped
rewards for training); scores are reported unclipped and per full game. The training environments
step on the host while policies and updates are jitted (see ``jaxdistill.run.driver``). Writes into
``--run-dir`` (default ``runs/atari_<game>_k<K>_l<l>_<method>_s<seed>``) the dataset (+ encoder),
metrics, checkpoints, ``learning_curve.png``, ``dataset.png`` and ``results.{json,md}``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from experiments.common import (
    Flat,
    ImageArgs,
    PPMOOptions,
    PPOBaselineOptions,
    as_options,
    cli,
    fail,
    fill_run,
    print_results,
    run_image_method,
    validate_image_args,
)
from jaxdistill.presets import ATARI_PPMO, nature_cnn
from jaxdistill.run.harness import RunOptions

_PPMO = as_options(PPMOOptions, ATARI_PPMO["gpu"])  # sizes: jaxdistill.presets
_RUN = RunOptions(eval_every=25, eval_learners=8, final_eval_learners=32, eval_max_steps=27000,
                  eval_policy="sampled", final_policies=("sampled",), checkpoint_interval_s=300.0)


@dataclasses.dataclass
class Args(ImageArgs):
    env: str = "Centipede"
    """ALE game as EnvPool names it (Pong, Centipede, MsPacman, SpaceInvaders, Breakout, ...)."""
    ppmo: Annotated[PPMOOptions, Flat] = _PPMO
    ppo: PPOBaselineOptions = PPOBaselineOptions(clip_eps=0.1)
    run: Annotated[RunOptions, Flat] = _RUN


PRESETS: dict[str, Args] = {
    "gpu": Args(),
    # CPU-sized: 2 learners x 2 games x 32 steps per meta-epoch; short evaluation games.
    "cpu": Args(preset="cpu", ppmo=as_options(PPMOOptions, ATARI_PPMO["cpu"]),
                run=dataclasses.replace(_RUN, eval_every=10, eval_learners=2, final_eval_learners=4,
                                        eval_max_steps=2000)),
}


def validate(args: Args) -> tuple[Args, object]:
    """Reject bad arguments (and unknown games) before compiling; fill k and the run directory."""
    from jaxdistill.envs import make

    errors = validate_image_args(args)
    if args.method == "es":
        errors.append("--method es runs in the graph; Atari steps EnvPool on the host (use experiments.minatar)")
    env = None
    try:
        env = make(args.env if args.env.endswith("-v5") else f"{args.env}-v5")
    except ValueError as e:
        errors.append(str(e))
    fail("experiments.atari", errors)
    args = fill_run(dataclasses.replace(args, env=env.game), env.spec, "experiments.atari",
                    f"atari_{env.game.lower()}", f"_l{args.encoder_layers}",
                    nature_cnn(args.encoder_layers))
    return args, env


def main(args: Args) -> dict:
    args, env = validate(args)
    title = f"{'PPMO' if args.method == 'ppmo' else 'PPO'}, {env.game} (EnvPool)"
    result = run_image_method(args, env, nature_cnn, f"fresh Nature-CNN learners (l={args.encoder_layers})", title)
    print_results(args.run.run_dir, title, result, intro="Unclipped full-game scores.\n\n")
    return result


def parse(argv: list[str] | None = None) -> Args:
    """The command line (``sys.argv[1:]`` by default) as :class:`Args`, defaults from the ``--preset`` preset."""
    return cli(Args, PRESETS, "preset", argv)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli("experiments.atari", main, parse)
