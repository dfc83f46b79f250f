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
from pathlib import Path

import tyro

from experiments.common import (
    ImageRunArgs,
    check_positive,
    check_run_dir,
    print_results,
    run_image_method,
    validate_image_args,
)

PRESETS = {
    # GPU-sized: 8 learners x 8 games x 128 steps = 8192 env steps per meta-epoch (CleanRL's PPO
    # collects 8 x 128 per update); 1250 meta-epochs = 10 M env steps.
    "gpu": {"meta_epochs": 1250, "num_learners": 8, "num_envs": 8, "num_steps": 128, "num_minibatches": 4,
            "eval_every": 25, "eval_learners": 8, "final_eval_learners": 32, "eval_max_steps": 27000},
    # CPU-sized: 2 learners x 2 games x 32 steps per meta-epoch; short evaluation games.
    "cpu": {"meta_epochs": 20, "num_learners": 2, "num_envs": 2, "num_steps": 32, "num_minibatches": 2,
            "eval_every": 10, "eval_learners": 2, "final_eval_learners": 4, "eval_max_steps": 2000},
}


@dataclasses.dataclass
class Args(ImageRunArgs):
    env: str = "Centipede"
    """ALE game as EnvPool names it (Pong, Centipede, MsPacman, SpaceInvaders, Breakout, ...)."""
    distiller_lr: float = 2.5e-4
    """Adam learning rate of the synthetic frames and labels (the paper: 2.5e-4)."""
    clip_eps: float = 0.1
    """PPO clip range (CleanRL's Atari setting)."""
    final_eval_learners: int | None = None
    """Fresh learners in the final k-shot table (one full game each)."""
    eval_max_steps: int | None = None
    """Agent steps after which an evaluation game counts with its score so far."""
    checkpoint_interval_s: float = 300.0
    """Seconds between checkpoints (one is always written at exit)."""


def validate(args: Args) -> tuple[Args, object]:
    """Fill preset values and k_min; reject bad arguments (and unknown games) before compiling."""
    from jaxdistill.distill.kmin import k_min
    from jaxdistill.envs import make

    args, errors = validate_image_args(args, PRESETS, ("distiller_lr",))
    check_positive(args, ("eval_max_steps",), errors)
    env = None
    try:
        env = make(args.env if args.env.endswith("-v5") else f"{args.env}-v5")
    except ValueError as e:
        errors.append(str(e))
    if errors:
        raise SystemExit("experiments.atari: error: " + "; ".join(errors))
    args = dataclasses.replace(args, env=env.game, k=args.k or k_min(env.spec.num_actions))
    if args.run_dir is None:
        what = f"k{args.k}_l{args.encoder_layers}_ppmo" if args.method == "ppmo" else "ppo"
        args = dataclasses.replace(args, run_dir=Path("runs") / f"atari_{env.game.lower()}_{what}_s{args.seed}")
    check_run_dir(args.run_dir, "experiments.atari")
    return args, env


def nature_cnn(encoder_layers: int = 0, output_gain: float = 0.01):
    from jaxdistill.nets.networks import ConvSpec

    return ConvSpec(encoder_layers=encoder_layers, channels_first=True, output_gain=output_gain)


def main(args: Args) -> dict:
    args, env = validate(args)
    title = f"{'PPMO' if args.method == 'ppmo' else 'PPO'}, {env.game} (EnvPool)"
    result = run_image_method(args, env, nature_cnn, f"fresh Nature-CNN learners (l={args.encoder_layers})", title,
                              ("sampled",), eval_max_steps=args.eval_max_steps)
    print_results(args.run_dir, title, result, intro="Unclipped full-game scores.\n\n")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
