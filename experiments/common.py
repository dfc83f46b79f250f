"""What the experiment CLIs share: nested option types, typed presets, validation, result printing.

Every CLI's ``Args`` holds the algorithm configs and the run options themselves (nested, not copied
field by field): ``PPMOOptions`` and ``RunOptions`` are flattened into top-level flags (``--k``,
``--meta-epochs``, ``--seed``), PPO's are prefixed (``--ppo.total-timesteps``). The network
architectures are each experiment's choice, not flags.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Literal

import tyro

from jaxdistill.distill.ppmo import PPMOConfig
from jaxdistill.nets.networks import CRITIC_SPEC, ConvSpec, LearnerSpec
from jaxdistill.rl.ppo import PPOConfig
from jaxdistill.run.harness import RunOptions

Flat = tyro.conf.arg(name="")
"""Annotate a nested config with this to make its fields top-level flags."""


@dataclasses.dataclass(frozen=True)
class PPMOOptions(PPMOConfig):
    """PPMO's configuration as flags; the learner and critic architectures are set by each experiment."""

    learner: tyro.conf.Suppress[LearnerSpec | ConvSpec] = LearnerSpec()
    critic: tyro.conf.Suppress[LearnerSpec | ConvSpec] = CRITIC_SPEC


@dataclasses.dataclass(frozen=True)
class PPOOptions(PPOConfig):
    """PPO's configuration as flags (``--ppo.*``); the architectures are set by each experiment."""

    actor: tyro.conf.Suppress[LearnerSpec | ConvSpec] = LearnerSpec()
    critic: tyro.conf.Suppress[LearnerSpec | ConvSpec] = CRITIC_SPEC


@dataclasses.dataclass(frozen=True)
class PPOBaselineOptions(PPOOptions):
    """PPO for the image experiments: its sizes follow PPMO's (num_learners x num_envs environments, the
    same rollout length, minibatches, epochs and environment steps), so only the rest are flags."""

    total_timesteps: tyro.conf.Suppress[int] = PPOConfig.total_timesteps
    num_envs: tyro.conf.Suppress[int] = PPOConfig.num_envs
    num_steps: tyro.conf.Suppress[int] = PPOConfig.num_steps
    num_minibatches: tyro.conf.Suppress[int] = PPOConfig.num_minibatches
    update_epochs: tyro.conf.Suppress[int] = PPOConfig.update_epochs


_COUNTS = ("k", "meta_epochs", "num_learners", "num_envs", "num_steps", "num_minibatches", "update_epochs",
           "total_timesteps", "eval_every", "eval_learners", "final_eval_learners", "eval_max_steps", "epochs",
           "students_per_epoch", "real_batch", "matches_per_student")
_POSITIVE = ("distiller_lr", "critic_lr", "encoder_lr", "inner_lr_init", "lr", "clip_eps", "student_lr")


def problems(config, prefix: str = "") -> list[str]:
    """What is wrong with a config, as messages naming its flags (``--<prefix><field>``)."""
    def flag(name):
        return f"--{prefix}{name.replace('_', '-')}"

    errors = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in _COUNTS and value is not None and value < 1:
            errors.append(f"{flag(f.name)} must be >= 1 (got {value})")
        if f.name in _POSITIVE and not value > 0:
            errors.append(f"{flag(f.name)} must be > 0 (got {value})")
    names = {f.name for f in dataclasses.fields(config)}
    if {"num_envs", "num_steps", "num_minibatches"} <= names and config.num_minibatches >= 1:
        rollout = config.num_envs * config.num_steps
        if rollout % config.num_minibatches:
            errors.append(f"{flag('num_envs')} x {flag('num_steps')} ({rollout}) must be divisible by "
                          f"{flag('num_minibatches')} ({config.num_minibatches})")
    return errors


def fail(prog: str, errors: list[str]) -> None:
    """Exit with one line naming every problem (before anything is compiled)."""
    if errors:
        raise SystemExit(f"{prog}: error: " + "; ".join(errors))


def flag_value(argv: list[str], key: str) -> str | None:
    """The value given to ``--<key>`` on the command line (the last one), or None."""
    value = None
    for i, token in enumerate(argv):
        if token == f"--{key}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif token.startswith(f"--{key}="):
            value = token.split("=", 1)[1]
    return value


def cli(args_type, presets, key: str, argv: list[str] | None = None):
    """``tyro.cli`` whose defaults come from the typed preset named by ``--<key>`` (every flag given on the
    command line still wins); without such a preset, ``args_type``'s own defaults. ``presets`` is a dict,
    or a function of the command line that returns the default ``Args`` (or None)."""
    argv = sys.argv[1:] if argv is None else argv
    default = presets(argv) if callable(presets) else presets.get(flag_value(argv, key))
    return tyro.cli(args_type, args=argv, default=default, config=(tyro.conf.AvoidSubcommands,))


def fill_run(args, spec, prog: str, stem: str, ppmo_tag: str = ""):
    """``args`` with k filled in for ``spec`` (k_min when unset) and the default run directory
    ``runs/<stem>_k<K><ppmo_tag>_ppmo_s<seed>`` (``runs/<stem>_ppo_s<seed>`` for PPO), checked writable."""
    args = dataclasses.replace(args, ppmo=args.ppmo.for_spec(spec))
    if args.run.run_dir is None:
        what = f"k{args.ppmo.k}{ppmo_tag}_ppmo" if args.method == "ppmo" else "ppo"
        args = dataclasses.replace(args, run=dataclasses.replace(
            args.run, run_dir=Path("runs") / f"{stem}_{what}_s{args.run.seed}"))
    check_run_dir(args.run.run_dir, prog)
    return args


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


@dataclasses.dataclass
class ImageArgs:
    """Options shared by the image experiments (``experiments.minatar``, ``experiments.atari``)."""

    method: Literal["ppmo", "ppo"] = "ppmo"
    """ppmo distils a dataset; ppo trains the whole CNN directly (the baseline, at PPMO's env steps)."""
    preset: Literal["gpu", "cpu"] = "gpu"
    """Sizes of the run (typed presets in each experiment's PRESETS); flags given beside it still win."""
    encoder_layers: int = 0
    """l in 0..5: layers [0, l) form the encoder trained by the outer loss (0 = full distillation, 5 = PPO)."""
    ppmo: Annotated[PPMOOptions, Flat] = PPMOOptions()
    ppo: PPOBaselineOptions = PPOBaselineOptions()
    run: Annotated[RunOptions, Flat] = RunOptions()


def validate_image_args(args: ImageArgs) -> list[str]:
    """The problems common to image experiments."""
    errors = problems(args.ppmo) + problems(args.ppo, "ppo.") + problems(args.run)
    if not 0 <= args.encoder_layers <= 5:
        errors.append(f"--encoder-layers must be in 0..5 (got {args.encoder_layers})")
    return errors


def image_configs(args: ImageArgs, make_learner, spec):
    """The PPMO config (k filled in) and the PPO config with the same environment steps per iteration."""
    ppmo = dataclasses.replace(args.ppmo, learner=make_learner(args.encoder_layers),
                               critic=make_learner(0, output_gain=1.0)).for_spec(spec)
    num_envs = ppmo.num_learners * ppmo.num_envs
    ppo = dataclasses.replace(
        args.ppo, num_envs=num_envs, num_steps=ppmo.num_steps,
        total_timesteps=ppmo.meta_epochs * num_envs * ppmo.num_steps, num_minibatches=ppmo.num_minibatches,
        update_epochs=ppmo.update_epochs, actor=make_learner(0), critic=ppmo.critic,
    )
    return ppmo, ppo


def run_image_method(args: ImageArgs, env, make_learner, learner_label: str, title: str) -> dict:
    """``--method ppmo`` or ``ppo`` of an image experiment through the run harness."""
    from jaxdistill.run.harness import run_ppmo, run_ppo

    ppmo_config, ppo_config = image_configs(args, make_learner, env.spec)
    if args.method == "ppmo":
        result = run_ppmo(env, ppmo_config, args.run, learner_label=learner_label, title=title,
                          gpu_sized=args.preset == "gpu")
    else:
        result = run_ppo(env, ppo_config, args.run, title=title, gpu_sized=args.preset == "gpu")
    result.pop("rows")
    return result
