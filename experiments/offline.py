"""Offline dataset distillation (the second paper): an expert's episodes, percentile behavioural cloning and a
150-sample distilled set (gradient matching, the paper's, or behaviour matching), each judged by the returns of
students trained on it.

    python -m experiments.offline --env bigfish                        # Procgen through EnvPool (easy, 200 levels)
    python -m experiments.offline --env Breakout-MinAtar                # any environment id of the registry
    python -m experiments.offline --env bigfish --expert runs/ppo/policy    # an expert of your own
    python -m experiments.offline --data path/or/minari-id --env CartPole-v1  # data you bring (Minari)
    python -m experiments.offline --env bigfish --stage bc             # stop after a stage; --resume continues
    python -m experiments.offline --env Breakout-MinAtar --method bm    # behaviour matching (back-prop through
                                                                        # the students' training), --bm.*

Stages (``--stage`` runs up to and including one): ``expert`` (PPO on the training levels, unless
``--expert`` or ``--data`` is given), ``data`` (``--episodes`` expert episodes as a Minari dataset),
``bc`` (percentile BC, ``--percents``), ``distill`` (``--method gm``: gradient matching, ``--gm.*``;
``--method bm``: behaviour matching, ``--bm.*``, see :mod:`jaxdistill.distill.behaviour_matching`),
``evaluate`` (the distilled set's students, trained exactly as the distiller trained its own, optionally
ensembles of ``--ensemble`` of them; the same k real states before distillation (``real<k>``), the expert and
a random policy; the table and plots). Every method trains ``--students`` fresh students in one vmapped call and plays
``--episodes-per-student`` episodes with each, in distribution (the data's levels) and, for Procgen, on unseen
levels. Output in ``--run-dir`` (default ``runs/offline_<env>_s<seed>``): see :mod:`jaxdistill.offline.pipeline`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Literal

from experiments.common import Flat, PPOOptions, cli, fail, flag_value, problems
from jaxdistill.distill.behaviour_matching import BMConfig
from jaxdistill.offline.pipeline import STAGES, StudyConfig
from jaxdistill.presets import offline_networks

PROG = "experiments.offline"


@dataclasses.dataclass
class Args:
    env: str | None = "bigfish"
    """A Procgen game (``bigfish``, ``jumper``, ``starpilot``, ...; easy mode, levels 0-200) or any environment id
    (``Breakout-MinAtar``, ``CartPole-v1``, ``BigfishHard-v0:levels=0-500``). May be omitted with ``--data`` whose
    file names its environment (then students are trained but evaluated only where the environment exists)."""
    data: str | None = None
    """Offline data to use instead of recording an expert: a Minari dataset directory or local id."""
    expert: Path | None = None
    """An expert policy (a PPO run's ``policy/`` directory) instead of training one."""
    stage: Literal["expert", "data", "bc", "distill", "evaluate"] = "evaluate"
    """Run the stages up to and including this one."""
    preset: Literal["cpu", "gpu"] = "cpu"
    """Expert budget: cpu (what a 2-core CPU trains in minutes to hours) or gpu (the paper's 25 M steps)."""
    expert_net: Literal["impala", "nature"] = "nature"
    """The expert's network on frames (Procgen): impala (the paper's IMPALA CNN, 16/32/32 stacks, 256 hidden;
    the gpu preset's) or nature (the Nature CNN, about 9x fewer multiply-adds per frame: the cpu preset's).
    MinAtar maps always use the MinAtar CNN."""
    seed: int = 0
    """Seed of the whole study."""
    run_dir: Path | None = None
    """Output directory (default runs/offline_<env>_s<seed>)."""
    resume: bool = False
    """Continue the expert's and the distillation's runs from their checkpoints."""
    overwrite: bool = False
    """Start the distillation afresh, deleting the one in --run-dir (without it, or --resume, a run directory
    that holds a distillation is refused). The expert and its data are kept either way."""
    progress: bool = True
    """Show progress bars."""
    study: Annotated[StudyConfig, Flat] = StudyConfig()
    """The study's sizes and protocols (``--episodes``, ``--percents``, ``--students``, ``--bc.*``,
    ``--synthetic.*``, ``--gm.*``, ...: see :class:`~jaxdistill.offline.pipeline.StudyConfig`)."""
    ppo: PPOOptions = PPOOptions()
    """The expert's PPO (``--ppo.*``; architectures follow the observations)."""


def _ppo(total: int, **kw) -> PPOOptions:
    base = {"total_timesteps": total, "num_envs": 64, "num_steps": 128, "num_minibatches": 8, "update_epochs": 4,
            "lr": 5e-4, "anneal_lr": True, "ent_coef": 0.01, "gamma": 0.99}
    return PPOOptions(**{**base, **kw})


PRESETS: dict[str, Args] = {
    "cpu": Args(ppo=_ppo(2_000_000)),
    # Behaviour matching on a GPU: the default T = 100 students, 8 of them an outer step on 1024 real frames
    # each (a CPU takes 2 x 512: fewer students make a noisier outer gradient, which the small outer step absorbs).
    "gpu": Args(expert_net="impala", ppo=_ppo(25_000_000, num_envs=256),
                study=StudyConfig(bm=BMConfig(students_per_epoch=8, real_batch=1024))),
}


def env_id_of(name: str) -> str:
    """A Procgen game name becomes its easy-mode id; any other id is kept."""
    from jaxdistill.envs.procgen import procgen_id, procgen_tasks

    if name.islower() and name.isalpha() and f"{name.capitalize()}Easy-v0" in procgen_tasks():
        return procgen_id(name)
    return name


def validate(args: Args) -> Args:
    study = args.study
    # ``problems`` walks the study's nested configs (--gm.*, --bc.*, --synthetic.*, --bm.*) and its shared counts
    # (--eval-every, --eval-max-steps); the counts only this study has are checked here.
    errors = problems(args.ppo, "ppo.") + problems(study)
    for name in ("episodes", "students", "episodes_per_student"):
        if getattr(study, name) < 1:
            errors.append(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(study, name)})")
    for p in study.percents:
        if not 0 < p <= 100:
            errors.append(f"--percents must lie in (0, 100] (got {p})")
    for prefix, t in (("bc", study.bc), ("synthetic", study.synthetic)):
        if t.steps < 1 or t.batch_size < 1 or not t.lr > 0:
            errors.append(f"--{prefix}.steps, --{prefix}.batch-size must be >= 1 and --{prefix}.lr > 0")
    if study.gm.steps_between_matches < 0 or study.gm.label_lr < 0:
        errors.append("--gm.steps-between-matches and --gm.label-lr must be >= 0")
    if args.env is None and args.data is None:
        errors.append("give --env, --data, or both")
    if args.expert is not None and args.data is not None:
        errors.append("--expert records new data; --data brings data: give one of them")
    if study.method == "bm":
        from jaxdistill.distill.behaviour_matching import NEEDS_EXPERT, config_problems

        errors += config_problems(study.bm)
        if study.bm.outer_loss in NEEDS_EXPERT and args.data is not None and args.expert is None:
            errors.append(f"--bm.outer-loss {study.bm.outer_loss} needs the expert policy: give --expert with "
                          "--data, or use --bm.outer-loss dbc")
    if study.ensemble < 0 or study.ensemble == 1:
        errors.append(f"--ensemble must be 0 (no ensemble row) or >= 2 (got {study.ensemble})")
    fail(PROG, errors)
    if args.run_dir is None:
        stem = (args.env or Path(str(args.data)).name).lower().replace(":", "_").replace("=", "").replace("/", "_")
        args = dataclasses.replace(args, run_dir=Path("runs") / f"offline_{stem}_s{args.seed}")
    from experiments.common import check_run_dir

    check_run_dir(args.run_dir, PROG, resume=True)  # writable; the study's stages continue what they find
    if STAGES.index(args.stage) >= STAGES.index("distill"):  # but two distillations never mix
        check_run_dir(args.run_dir / "distill", PROG, args.resume, args.overwrite)
    return args


def size_problems(study: StudyConfig, transitions: int) -> list[str]:
    """Sizes that do not fit the data: a synthetic set or a real batch larger than the data itself."""
    errors = []
    sizes = ((("--gm.k", study.gm.k), ("--gm.real-batch", study.gm.real_batch)) if study.method == "gm"
             else (("--bm.k", study.bm.k),))
    for flag, value in sizes:
        if value > transitions:
            errors.append(f"{flag} ({value}) exceeds the data's {transitions} transitions")
    return errors


def main(args: Args) -> dict:
    from jaxdistill.core.errors import RunInterrupted

    args = validate(args)
    try:
        return study(args)
    except RunInterrupted as e:  # the expert's or the distillation's run: the study continues with --resume
        e.run_dir = args.run_dir
        raise


def study(args: Args) -> dict:
    from jaxdistill.envs import make
    from jaxdistill.offline import pipeline
    from jaxdistill.offline.data import OfflineDataError
    from jaxdistill.policy.distributions import for_spec
    from jaxdistill.rl.policy_file import PolicyFileError, load_policy
    from jaxdistill.run.harness import RunOptions, run_ppo

    run_dir = args.run_dir
    stop = STAGES.index(args.stage)
    try:
        env = make(env_id_of(args.env)) if args.env is not None else None
    except (ValueError, ImportError) as e:
        raise SystemExit(f"{PROG}: error: {e}") from None
    data = None
    if args.data is not None:  # read and validate before anything compiles
        try:
            data = pipeline.read_minari(args.data, env.spec if env is not None else None)
        except OfflineDataError as e:
            raise SystemExit(f"{PROG}: error: {e}") from None
        if env is None:
            try:
                env = make(data.spec.env_id)
            except (ValueError, ImportError):
                env = None  # an environment this project does not know: train students, no returns
    spec = data.spec if data is not None else env.spec
    channels_first = len(spec.obs_shape) == 3 and spec.obs_shape[0] <= 4 and spec.obs_shape[-1] > 4
    student, actor, critic = offline_networks(spec.obs_shape, channels_first, args.expert_net)
    config = args.study
    (run_dir / "study.json").write_text(json.dumps({"args": json.loads(json.dumps(dataclasses.asdict(args),
                                                                                   default=str))}, indent=2) + "\n")

    def expert():
        if args.expert is not None:
            return load_policy(args.expert, env.spec)
        path = run_dir / "expert"
        done = path / "expert.json"  # written once the expert's PPO run finished its budget
        if done.is_file():
            return load_policy(path, env.spec)
        ppo = dataclasses.replace(args.ppo, actor=actor, critic=critic)
        # An expert whose training was cut off (RunInterrupted) is continued from its checkpoint, never used
        # half-trained.
        resume = args.resume or (path / "checkpoints").is_dir()
        result = run_ppo(env, ppo, RunOptions(seed=args.seed, run_dir=path, resume=resume, eval_every=10,
                                              eval_learners=16, final_eval_learners=32, eval_policy="sampled",
                                              progress=args.progress, tensorboard=False),
                         title=f"PPO expert, {env.spec.env_id}")
        done.write_text(json.dumps({k: result[k] for k in ("updates", "env_steps", "wall_time_s", "kshot")},
                                   indent=2) + "\n")
        return load_policy(path, env.spec)

    try:
        if data is None:
            policy = expert()
            if stop == 0:
                return {"stage": "expert", "run_dir": str(run_dir)}
            game = env.spec.env_id.split(":")[0].lower().replace("-", "_")
            data = pipeline.get_data(run_dir, env, lambda: policy, config, args.seed, None, f"jaxdistill/{game}/expert-v0")
        else:
            policy = load_policy(args.expert, env.spec) if args.expert is not None else None
    except (PolicyFileError, OfflineDataError) as e:
        raise SystemExit(f"{PROG}: error: {e}") from None
    fail(PROG, size_problems(config, data.num_transitions))
    returns = data.returns
    print(f"[jaxdistill] data: {len(data.episodes)} episodes, {data.num_transitions} transitions, returns "
          f"{returns.mean():.2f} ± {returns.std():.2f}")
    if stop <= 1:
        return {"stage": "data", "run_dir": str(run_dir)}

    splits = {}
    if env is not None:
        splits["id"] = env
        if hasattr(env, "unseen") and env.levels[1] > 0:
            splits["ood"] = env.unseen()
    dist = for_spec(spec)
    evaluator = pipeline.Evaluator(splits, student, dist, config, args.seed)
    rows = pipeline.run_bc(run_dir, data, evaluator, config)
    if stop <= 2:
        return {"stage": "bc", "methods": rows}
    synthetic, distill_result, initial = pipeline.run_distill(run_dir, data, student, config, args.seed,
                                                              args.resume, args.progress, expert=policy)
    if stop <= 3:
        return {"stage": "distill", **distill_result}
    # Evaluation students learn exactly as the distiller's students did (bm: its inner loop).
    training = config.synthetic if config.method == "gm" else config.bm.training()
    label = "synthetic" if config.method == "gm" else f"bm-{config.bm.outer_loss}"
    rows = rows + evaluator.rows(label, synthetic.x, synthetic.y, training, synthetic.k)
    if config.ensemble:
        rows += evaluator.rows(f"{label}-ensemble{config.ensemble}", synthetic.x, synthetic.y, training, synthetic.k,
                               ensemble=config.ensemble)
    # The same k states before distillation (real, balanced over actions; bm: the expert's labels when it has
    # one), trained the same way: what the distillation adds.
    rows += evaluator.rows(f"real{initial.k}", initial.x, initial.y, training, initial.k)
    if policy is not None:
        rows += pipeline.expert_rows(splits, policy, config.students, config.episodes_per_student, args.seed,
                                     config.greedy, config.eval_max_steps)
    if spec.discrete and splits:
        rows += pipeline.random_rows(splits, config.students, config.episodes_per_student, args.seed,
                                     config.eval_max_steps)
    result = {"env_id": spec.env_id, "methods": rows, "data": {"episodes": len(data.episodes),
              "transitions": data.num_transitions, "return_mean": float(returns.mean()),
              "return_std": float(returns.std())}, "distill": distill_result, "config": json.loads(json.dumps(
                  dataclasses.asdict(config), default=str))}
    (run_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    table = pipeline.format_methods(rows)
    title = f"Offline distillation, {spec.env_id}"
    (run_dir / "results.md").write_text(f"# {title}\n\n{table}\n")
    if rows and splits:
        pipeline.plot_methods(rows, run_dir / "methods.png", title)
    from jaxdistill.run.harness import _plot_dataset

    if env is not None:
        _plot_dataset(env, synthetic, run_dir / "distill" / "dataset.png", f"{title}: {synthetic.k} synthetic samples",
                      channels_first)
    print(f"\n{title}\n\n{table}\nrun directory: {run_dir}")
    return result


def parse(argv: list[str] | None = None) -> Args:
    """The command line as :class:`Args`, defaults from ``--preset`` (cpu when not given)."""
    return cli(Args, lambda argv: PRESETS.get(flag_value(argv, "preset") or "cpu"), "preset", argv)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli(PROG, main, parse)
