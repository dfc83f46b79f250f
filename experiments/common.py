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

from jaxdistill.distill.es import ESConfig
from jaxdistill.distill.ppmo import PPMOConfig
from jaxdistill.learn.inner import ONE_STEP, InnerTraining
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


def as_options(options_cls, config):
    """A library config (``PPMOConfig``, ``PPOConfig``: :mod:`jaxdistill.presets`) as this CLI's flags class of the
    same fields."""
    return options_cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})


@dataclasses.dataclass(frozen=True)
class ESOptions(ESConfig):
    """Evolution strategies' own flags (``--es.*``, for ``--method es``). The dataset's options are PPMO's
    top-level flags, shared by both distillers: ``--k``, ``--inner.*``, ``--fixed-init``, ``--x-init-states``, ``--init-from``,
    ``--x-init-scale``, ``--y-init-scale``, ``--init-log-std``."""

    k: tyro.conf.Suppress[int | None] = None
    learner: tyro.conf.Suppress[LearnerSpec | ConvSpec] = LearnerSpec()
    inner: tyro.conf.Suppress[InnerTraining] = ONE_STEP
    fixed_init: tyro.conf.Suppress[bool] = False
    x_init_states: tyro.conf.Suppress[str | None] = None
    init_from: tyro.conf.Suppress[str | None] = None
    x_init_scale: tyro.conf.Suppress[float] = 1.0
    y_init_scale: tyro.conf.Suppress[float] = 1.0
    init_log_std: tyro.conf.Suppress[float] = 0.0
    hades: bool = False
    """HaDES' published settings (population 2048, sigma 0.03, Adam 0.05, 2 learners per candidate) in place of
    --es.population, --es.sigma, --es.lr and --es.learners-per-candidate."""
    hades_minatar: bool = False
    """HaDES' MinAtar search (SNES, initial std 0.5, SGD 1.0 on the mean, 2 learners per candidate) in place of
    --es.strategy, --es.sigma, --es.lr and --es.learners-per-candidate. The population stays --es.population:
    HaDES' 2048 is GPU-sized."""


def es_config(es: ESConfig, ppmo: PPMOConfig) -> ESConfig:
    """The ES config of a CLI: its own flags (HaDES' settings with ``--es.hades``), and the dataset's options
    (k, inner training, learner, inits) from PPMO's, so both distillers distil the same kind of dataset."""
    from jaxdistill.distill.es import HADES, HADES_MINATAR

    if getattr(es, "hades", False):
        es = dataclasses.replace(es, **HADES)
    if getattr(es, "hades_minatar", False):
        es = dataclasses.replace(es, **HADES_MINATAR)
    return dataclasses.replace(es, k=ppmo.k, learner=ppmo.learner, inner=ppmo.inner, fixed_init=ppmo.fixed_init,
                               x_init_states=ppmo.x_init_states, init_from=ppmo.init_from, x_init_scale=ppmo.x_init_scale,
                               y_init_scale=ppmo.y_init_scale, init_log_std=ppmo.init_log_std)


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
           "students_per_epoch", "real_batch", "matches_per_student", "generations", "population",
           "learners_per_candidate", "max_steps")
_POSITIVE = ("distiller_lr", "critic_lr", "encoder_lr", "inner_lr_init", "lr", "clip_eps", "student_lr", "sigma",
             "max_wall_time_s", "bc_lr", "label_lr_init")


def problems(config, prefix: str = "") -> list[str]:
    """What is wrong with a config, as messages naming its flags (``--<prefix><field>``): counts below 1,
    rates and budgets not above 0, any number that is NaN or infinite (nested configs such as ``--inner.*``
    included), and rollouts that do not split into minibatches."""
    import math

    def flag(name):
        return f"--{prefix}{name.replace('_', '-')}"

    errors = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            errors += problems(value, f"{prefix}{f.name}.")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(f"{flag(f.name)} must be a finite number (got {value})")
            continue
        if f.name in _COUNTS and value is not None and value < 1:
            errors.append(f"{flag(f.name)} must be >= 1 (got {value})")
        if f.name in _POSITIVE and value is not None and not value > 0:
            errors.append(f"{flag(f.name)} must be > 0 (got {value})")
    names = {f.name for f in dataclasses.fields(config)}
    if "population" in names and config.population % 2 and getattr(config, "strategy", "open_es") == "open_es":
        errors.append(f"{flag('population')} must be even (antithetic pairs; got {config.population})")
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


def spec_problems(ppmo: PPMOConfig, spec, obs_norm=()) -> list[str]:
    """What of the dataset's options does not fit the environment: an inner protocol for another kind of action
    space, fixed one-hot labels for fewer instances than actions, a ``--x-init-states`` file that is unreadable or
    of other observations, an ``--init-from`` stage of another environment, k, network, a smaller encoder or other
    observation statistics than ``obs_norm`` (an ES run's constant ones; ``()``: raw observations)."""
    import numpy as np

    from jaxdistill.distill.real_states import load_states
    from jaxdistill.distill.rollback import load_stage
    from jaxdistill.policy.distributions import for_spec

    errors = []
    try:
        ppmo.inner.check(for_spec(spec))
    except ValueError as e:
        errors.append(f"--inner.labels {ppmo.inner.labels}: {e} ({spec.env_id} has "
                      f"{'discrete' if spec.discrete else 'continuous'} actions)")
    k = ppmo.for_spec(spec).k
    if ppmo.inner.labels == "hard" and spec.discrete and k < spec.num_actions:
        errors.append(f"--inner.labels hard: k={k} fixed one-hot labels cannot cover {spec.env_id}'s "
                      f"{spec.num_actions} actions (give --k {spec.num_actions} or more)")
    errors += ppmo.problems()
    if ppmo.x_init_states is not None:
        try:
            load_states(ppmo.x_init_states, spec.obs_shape)
        except (OSError, ValueError) as e:
            errors.append(f"--x-init-states: {e}")
    if ppmo.init_from is not None:
        dist = for_spec(spec, ppmo.init_log_std)
        try:
            load_stage(ppmo.init_from, spec, ppmo.learner, k, dist.num_outputs,
                       ppmo.inner.labels == "hard", np.shape(dist.init_extra()), obs_norm)
        except (OSError, ValueError) as e:
            errors.append(f"--init-from: {e}")
    return errors


def fill_run(args, spec, prog: str, stem: str, ppmo_tag: str = "", learner=None):
    """``args`` with k filled in for ``spec`` (k_min when unset) and the default run directory
    ``runs/<stem>_k<K><ppmo_tag>_ppmo_s<seed>`` (``runs/<stem>_ppo_s<seed>`` for PPO), checked writable.
    ``learner``: the learner an experiment builds itself (an image experiment's CNN split at its l), so the
    dataset options are checked against it."""
    if learner is not None:
        args = dataclasses.replace(args, ppmo=dataclasses.replace(args.ppmo, learner=learner))
    errors, obs_norm = [], ()
    stats = getattr(getattr(args, "es", None), "obs_stats_states", None)
    if args.method == "es" and stats is not None:
        from jaxdistill.distill.real_states import load_states, state_statistics

        try:
            obs_norm = state_statistics(load_states(stats, spec.obs_shape))
        except (OSError, ValueError) as e:
            errors.append(f"--es.obs-stats-states: {e}")
    if args.method in ("ppmo", "es"):
        ppmo = args.ppmo
        if errors and ppmo.init_from is not None:
            # without this run's statistics --init-from cannot be compared against them: one error, not two
            ppmo = dataclasses.replace(ppmo, init_from=None)
        errors += spec_problems(ppmo, spec, obs_norm)
    fail(prog, errors)
    args = dataclasses.replace(args, ppmo=args.ppmo.for_spec(spec))
    if args.run.run_dir is None:
        what = f"k{args.ppmo.k}{ppmo_tag}_{args.method}" if args.method in ("ppmo", "es") else "ppo"
        args = dataclasses.replace(args, run=dataclasses.replace(
            args.run, run_dir=Path("runs") / f"{stem}_{what}_s{args.run.seed}"))
    check_run_dir(args.run.run_dir, prog, args.run.resume, args.run.overwrite)
    return args


METHOD_NAMES = {"ppmo": "PPMO", "es": "ES", "ppo": "PPO"}


def run_method(args, env, ppmo: PPMOConfig, ppo: PPOConfig, learner_label: str, title: str,
               gpu_sized: bool = False) -> dict:
    """``args.method`` through the run harness: PPMO with ``ppmo``, ES with ``args.es`` and the dataset options of
    ``ppmo`` (:func:`es_config`), or PPO with ``ppo``. The result has no ``rows``."""
    from jaxdistill.run.harness import run_es, run_ppmo, run_ppo

    if args.method == "ppmo":
        result = run_ppmo(env, ppmo, args.run, learner_label=learner_label, title=title, gpu_sized=gpu_sized)
    elif args.method == "es":
        result = run_es(env, es_config(args.es, ppmo), args.run, learner_label=learner_label, title=title)
    else:
        result = run_ppo(env, ppo, args.run, title=title, gpu_sized=gpu_sized)
    result.pop("rows")
    return result


def resume_command(prog: str, argv: list[str], run_dir: Path | None, resume_flag: bool) -> str:
    """The command line that continues an interrupted run: the same flags, without ``--overwrite`` (it would
    delete what the run left), with ``--run-dir`` spelled out and ``--resume`` added (``resume_flag``; a study
    that reuses what it wrote takes its command as it was)."""
    import shlex

    args = [a for a in argv if a not in ("--overwrite", "--no-overwrite")]
    if resume_flag:
        if run_dir is not None and flag_value(args, "run-dir") is None:
            args += ["--run-dir", str(run_dir)]
        if "--resume" not in args:
            args.append("--resume")
    return shlex.join(["python", "-m", prog, *args])


def _output_dir(args) -> Path | None:
    """Where a command writes, for a message about a full disk that does not name its file."""
    for obj in (getattr(args, "run", None), args):
        for name in ("run_dir", "out_dir", "out"):
            if isinstance(getattr(obj, name, None), Path):
                return getattr(obj, name)
    return None


def run_cli(prog: str, main, parse, argv: list[str] | None = None):
    """``main(parse(argv))`` for a ``python -m <prog>`` entry point, with every way a run ends early reported in one
    line on stderr instead of a traceback:

    * interrupted (SIGINT / SIGTERM; the run checkpointed first): the exact command that continues it, exit status
      ``128 + signal`` (130, 143), as a shell reports a signalled process;
    * a :class:`~jaxdistill.core.errors.RunError` (unusable run directory, mismatched resume, non-finite run):
      ``<prog>: error: ...``, exit 1;
    * a full disk, wherever it struck: ``<prog>: error: no space left on device writing <path>``, exit 1.

    Outside a training loop (compiling, the final evaluation) SIGTERM keeps its default action, which ends the
    process at once (a Python handler would wait for a long compiled call to return), and Ctrl-C ends it with one
    line."""
    from jaxdistill.core import compile_cache
    from jaxdistill.core.errors import RunError, RunInterrupted, disk_full_path

    argv = sys.argv[1:] if argv is None else list(argv)
    cache, argv, why = compile_cache.choose(argv)
    if cache is not None:
        try:
            compile_cache.enable(cache)
        except OSError as e:  # an unwritable cache directory costs start-up time, never the run
            cache, why = None, f"off: {cache} is not writable ({e.strerror})"
    if cache is None:
        compile_cache.disable()
    print(f"[jaxdistill] {prog}: compilation cache "
          + (f"{cache} ({why}; off: {compile_cache.OFF_FLAG} or {compile_cache.ENV_VAR}=0)" if cache else why),
          file=sys.stderr)
    args = None
    try:
        args = parse(argv)
        return main(args)
    except RunInterrupted as e:
        from jaxdistill.core import distributed

        command = resume_command(prog, argv, e.run_dir, e.resume_flag)
        if distributed.launched():  # every process stopped alike: process 0 says it for the group
            command = f"the same `python -m jaxdistill.launch ... -- {command}`"
        distributed.log(f"{prog}: stopped by {e.signal_name}: {e.what}")
        distributed.log(f"{prog}: to continue: {command}")
        raise SystemExit(e.exit_status) from None
    except KeyboardInterrupt:
        print(f"\n{prog}: stopped by SIGINT", file=sys.stderr)
        raise SystemExit(130) from None
    except RunError as e:
        raise SystemExit(f"{prog}: error: {e}") from None
    except Exception as e:
        where = disk_full_path(e)
        if where is None:
            raise
        where = where or (_output_dir(args) if args is not None else None)
        raise SystemExit(f"{prog}: error: no space left on device" + (f" writing {where}" if where else "")) from None


def print_results(run_dir: Path, title: str, result: dict, intro: str = "") -> None:
    """``results.json`` and ``results.md`` in ``run_dir``, and the table on stdout."""
    from jaxdistill.run.harness import write_results

    table = write_results(run_dir, title, result, intro)
    print(f"\n{title}: {result['env_steps']:,} env steps, {result['wall_time_s']:.1f} s of training\n")
    print(table)
    print(f"run directory: {run_dir}")


def check_run_dir(run_dir: Path, prog: str, resume: bool = False, overwrite: bool = False) -> None:
    """Fail with one line, before anything compiles, when the run directory cannot be written, holds another run
    (unless ``resume`` or ``overwrite``), or when the command runs as several processes (each would train the
    same run and write the same files)."""
    import jax

    from jaxdistill.core.loop import RunDirError
    from jaxdistill.core.loop import check_run_dir as check

    if jax.process_count() > 1:
        raise SystemExit(f"{prog}: error: one run is one process, but this is process {jax.process_index()} of "
                         f"{jax.process_count()}: each would train the same run into {run_dir}. Several processes "
                         "serve experiments.kmin_sweep and experiments.kshot_table; run this command alone")

    try:
        check(run_dir, resume=resume, overwrite=overwrite)
    except RunDirError as e:
        raise SystemExit(f"{prog}: error: {e}") from None


def check_out_dir(out_dir: Path, prog: str, flag: str = "--out-dir") -> Path:
    """Create a study's output directory and check it is writable, before any work (one line otherwise). Process 0
    alone writes, so it alone checks; every process stops with the same message."""
    from jaxdistill.core import distributed
    from jaxdistill.core.loop import RunDirError, check_writable

    def check():
        try:
            return check_writable(out_dir, flag)
        except RunDirError as e:
            raise SystemExit(f"{prog}: error: {e}") from None

    distributed.from_main(check)
    return out_dir


@dataclasses.dataclass
class ImageArgs:
    """Options shared by the image experiments (``experiments.minatar``, ``experiments.atari``)."""

    method: Literal["ppmo", "ppo", "es"] = "ppmo"
    """ppmo distils a dataset; es distils one with evolution strategies (in-graph games; no encoder); ppo
    trains the whole CNN directly (the baseline, at PPMO's env steps)."""
    preset: Literal["gpu", "cpu"] = "gpu"
    """Sizes of the run (typed presets in each experiment's PRESETS); flags given beside it still win."""
    encoder_layers: int = 0
    """l in 0..5: layers [0, l) form the encoder trained by the outer loss (0 = full distillation, 5 = PPO)."""
    ppmo: Annotated[PPMOOptions, Flat] = PPMOOptions()
    ppo: PPOBaselineOptions = PPOBaselineOptions()
    es: ESOptions = ESOptions()
    run: Annotated[RunOptions, Flat] = RunOptions()


def validate_image_args(args: ImageArgs) -> list[str]:
    """The problems common to image experiments."""
    errors = problems(args.ppmo) + problems(args.ppo, "ppo.") + problems(args.es, "es.") + problems(args.run)
    if not 0 <= args.encoder_layers <= 5:
        errors.append(f"--encoder-layers must be in 0..5 (got {args.encoder_layers})")
    if args.method == "es" and args.encoder_layers:
        errors.append("--method es evolves the dataset only: use --encoder-layers 0")
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
    """``--method ppmo``, ``es`` or ``ppo`` of an image experiment through the run harness."""
    ppmo_config, ppo_config = image_configs(args, make_learner, env.spec)
    return run_method(args, env, ppmo_config, ppo_config, learner_label, title, gpu_sized=args.preset == "gpu")
