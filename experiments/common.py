"""Pieces the experiment scripts share: result printing, run-directory checks, image-run options."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal


def print_results(run_dir: Path, title: str, result: dict, intro: str = "") -> None:
    """``results.json`` and ``results.md`` in ``run_dir``, and the table on stdout."""
    from jaxdistill.run.harness import write_results

    table = write_results(run_dir, title, result, intro)
    print(f"\n{title}: {result['env_steps']:,} env steps, {result['wall_time_s']:.1f} s of training\n")
    print(table)
    print(f"run directory: {run_dir}")


def check_run_dir(run_dir: Path, prog: str) -> None:
    """Fail with one line, before anything compiles, when the run directory cannot be written."""
    from jaxdistill.run.loop import RunDirError
    from jaxdistill.run.loop import check_run_dir as check

    try:
        check(run_dir)
    except RunDirError as e:
        raise SystemExit(f"{prog}: error: {e}") from None


def check_positive(args, names: tuple[str, ...], errors: list[str], minimum: float = 1) -> None:
    """Append an error for every ``args.<name>`` below ``minimum``."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < minimum:
            errors.append(f"--{name.replace('_', '-')} must be >= {minimum} (got {value})")


@dataclasses.dataclass
class ImageRunArgs:
    """Options shared by the image experiments (``experiments.minatar``, ``experiments.atari``)."""

    method: Literal["ppmo", "ppo"] = "ppmo"
    """ppmo distils a dataset; ppo trains the whole CNN directly (the baseline)."""
    k: int | None = None
    """Synthetic images; default k_min = ceil(c / 2) + 1 for the game's c actions."""
    encoder_layers: int = 0
    """l in 0..5: layers [0, l) form the encoder trained by the outer loss (0 = full distillation, 5 = PPO)."""
    preset: Literal["gpu", "cpu"] = "gpu"
    """Sizes of the run; every option left unset below takes the preset's value."""
    meta_epochs: int | None = None
    """PPMO meta-epochs (or PPO updates, for --method ppo)."""
    num_learners: int | None = None
    """Learners sampled per meta-epoch (PPO: num_learners x num_envs environments, the same env steps)."""
    num_envs: int | None = None
    """Environments per learner."""
    num_steps: int | None = None
    """Rollout length per environment and meta-epoch."""
    num_minibatches: int | None = None
    """Minibatches per policy epoch."""
    update_epochs: int = 4
    """Policy epochs per meta-epoch (CleanRL: 4)."""
    critic_lr: float = 2.5e-4
    """Adam learning rate of the critic (PPMO)."""
    ppo_lr: float = 2.5e-4
    """Adam learning rate of PPO's actor and critic (--method ppo)."""
    encoder_lr: float = 2.5e-4
    """Adam learning rate of the encoder (l > 0)."""
    inner_lr_init: float = 0.02
    """Initial learned inner learning rate (the paper: 0.02)."""
    ent_coef: float = 0.01
    """Entropy bonus on the trained learners' policies (PPO: on its actor)."""
    clip_eps: float = 0.2
    """PPO clip range of the outer loss (and of --method ppo)."""
    eval_every: int | None = None
    """Meta-epochs between evaluations, progress updates and checkpoint chances."""
    eval_learners: int | None = None
    """Fresh learners (PPO: episodes) per evaluation during training."""
    seed: int = 0
    """Seed of the whole run."""
    run_dir: Path | None = None
    """Output directory (default: under runs/, named after game, k, l, method and seed)."""
    resume: bool = False
    """Continue from the latest checkpoint in --run-dir."""
    checkpoint_interval_s: float = 120.0
    """Seconds between checkpoints (one is always written at exit)."""
    tensorboard: bool = True
    """Write TensorBoard event files."""
    progress: bool = True
    """Show a progress bar."""


def validate_image_args(args, presets: dict, positive_floats: tuple[str, ...]):
    """Fill unset options from ``args.preset`` and collect the errors common to image experiments.

    Returns ``(args, errors)``; the caller adds its own checks and raises."""
    args = dataclasses.replace(args, **{name: value for name, value in presets[args.preset].items()
                                        if getattr(args, name) is None})
    errors: list[str] = []
    check_positive(args, ("k", "meta_epochs", "num_learners", "num_envs", "num_steps", "num_minibatches",
                          "update_epochs", "eval_every", "eval_learners", "final_eval_learners"), errors)
    if not 0 <= args.encoder_layers <= 5:
        errors.append(f"--encoder-layers must be in 0..5 (got {args.encoder_layers})")
    if (args.num_envs * args.num_steps) % args.num_minibatches:
        errors.append(f"--num-envs x --num-steps ({args.num_envs * args.num_steps}) must be divisible by "
                      f"--num-minibatches ({args.num_minibatches})")
    for name in ("critic_lr", "ppo_lr", "encoder_lr", "inner_lr_init", "clip_eps", *positive_floats):
        if not getattr(args, name) > 0:
            errors.append(f"--{name.replace('_', '-')} must be > 0 (got {getattr(args, name)})")
    return args, errors


def image_run_options(args, eval_policy: str, final_policies: tuple[str, ...], **extra):
    from jaxdistill.run.harness import RunOptions

    return RunOptions(seed=args.seed, run_dir=args.run_dir, resume=args.resume, eval_every=args.eval_every,
                      eval_learners=args.eval_learners, final_eval_learners=args.final_eval_learners,
                      eval_policy=eval_policy, final_policies=final_policies,
                      checkpoint_interval_s=args.checkpoint_interval_s, tensorboard=args.tensorboard,
                      progress=args.progress, **extra)


def image_configs(args, learner, critic):
    """The PPMO config and the PPO config with the same environment steps per iteration."""
    from jaxdistill.distill.ppmo import PPMOConfig
    from jaxdistill.rl.ppo import PPOConfig

    ppmo = PPMOConfig(
        k=args.k, meta_epochs=args.meta_epochs, learner=learner, critic=critic, num_learners=args.num_learners,
        num_envs=args.num_envs, num_steps=args.num_steps, num_minibatches=args.num_minibatches,
        update_epochs=args.update_epochs, distiller_lr=args.distiller_lr, critic_lr=args.critic_lr,
        encoder_lr=args.encoder_lr, inner_lr_init=args.inner_lr_init, clip_eps=args.clip_eps, ent_coef=args.ent_coef,
    )
    num_envs = args.num_learners * args.num_envs
    ppo = PPOConfig(
        num_envs=num_envs, num_steps=args.num_steps, total_timesteps=args.meta_epochs * num_envs * args.num_steps,
        num_minibatches=args.num_minibatches, update_epochs=args.update_epochs, lr=args.ppo_lr,
        clip_eps=args.clip_eps, ent_coef=args.ent_coef, actor=dataclasses.replace(learner, encoder_layers=0),
        critic=critic,
    )
    return ppmo, ppo


def run_image_method(args, env, make_learner, learner_label: str, title: str, final_policies: tuple[str, ...],
                     **run_extra) -> dict:
    """``--method ppmo`` or ``ppo`` of an image experiment through the run harness (sampled evaluations)."""
    from jaxdistill.run.harness import run_ppmo, run_ppo

    ppmo_config, ppo_config = image_configs(args, make_learner(args.encoder_layers), make_learner(0, output_gain=1.0))
    run = image_run_options(args, "sampled", final_policies, **run_extra)
    if args.method == "ppmo":
        result = run_ppmo(env, ppmo_config, run, learner_label=learner_label, title=title,
                          gpu_sized=args.preset == "gpu")
    else:
        result = run_ppo(env, ppo_config, run, title=title, gpu_sized=args.preset == "gpu")
    result.pop("rows")
    return result
