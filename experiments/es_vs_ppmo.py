"""PPMO against evolution strategies (HaDES' OpenES) on the same tasks, datasets, learners and evaluator.

    python -m experiments.es_vs_ppmo --tasks cartpole1d cartpole3d                    # every run of these tasks
    python -m experiments.es_vs_ppmo --tasks breakout --methods ppmo &                 # one method per process,
    python -m experiments.es_vs_ppmo --tasks breakout --methods es                     # each pinned to a core
    python -m experiments.es_vs_ppmo --report                                          # tables and plots

For every task, both distillers learn the same kind of dataset (k pairs, the task's learners) under both inner
protocols: ``sgd1``, the paper's one SGD step at a learned lr, and ``bc``, HaDES' behavioural cloning (20
full-batch Adam steps at 0.03 on the cross-entropy to softmax(Y)). Each run is the run harness's
(:func:`~jaxdistill.run.harness.run_ppmo` / :func:`~jaxdistill.run.harness.run_es`): the same k-shot
evaluator scores every dataset during training and, at the end, over 1000 fresh learners trained by the run's
protocol. A run stops at its task's target, its iteration budget or its wall-time budget, whichever comes first.

The report compares the methods at equal environment steps (each method's last evaluation within the smaller of
the two runs' step counts) and at equal wall time (likewise in seconds), and plots both methods' learning
curves per task against environment steps and against wall time. ES counts the agent steps inside its fitness
episodes (``env_steps``); the graph computes every episode to its step limit (``computed_env_steps``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import tyro

Task = Literal["cartpole1d", "cartpole3d", "breakout", "spaceinvaders", "hopper"]
Protocol = Literal["sgd1", "bc"]
Method = Literal["ppmo", "es"]

PROG = "experiments.es_vs_ppmo"
BC_STEPS, BC_LR = 20, 0.03
"""HaDES-style inner BC: full-batch Adam steps and their rate (HaDES' MinAtar default lr 0.03)."""


@dataclasses.dataclass
class Args:
    tasks: tuple[Task, ...] = ("cartpole1d", "cartpole3d")
    """Tasks to run (or report)."""
    protocols: tuple[Protocol, ...] = ("sgd1", "bc")
    """Inner training of the learners: sgd1 (PPMO's one SGD step) and/or bc (HaDES' BC epochs)."""
    methods: tuple[Method, ...] = ("ppmo", "es")
    """Distillers to run."""
    seed: int = 0
    """Seed of every run."""
    max_minutes: float | None = None
    """Wall-time budget per run, overriding the task's (None: the task's own)."""
    out: Path = Path("experiments/results/es_vs_ppmo")
    """Run directories ``<task>_<protocol>_<method>/``, ``results.{json,md}`` and ``<task>.png``."""
    report: bool = False
    """Only write the tables and plots from the runs already finished."""


def task_setup(task: str, protocol: str):
    """``(env, ppmo config, es config, run options, learner label, max minutes)`` of one task and protocol."""
    from jaxdistill.distill.es import ESConfig
    from jaxdistill.distill.ppmo import PPMOConfig
    from jaxdistill.envs import cartpole_id, make, minatar_id
    from jaxdistill.learn.inner import InnerTraining
    from jaxdistill.run.harness import RunOptions

    inner = InnerTraining() if protocol == "sgd1" else InnerTraining(kind="bc", steps=BC_STEPS, bc_lr=BC_LR)
    if task.startswith("cartpole"):
        dims = int(task[len("cartpole")])
        env = make(cartpole_id(dims))
        ppmo = PPMOConfig(meta_epochs=3000, inner=inner)
        es = ESConfig(population=128, generations=100_000, inner=inner)
        run = RunOptions(eval_every=25, target_return=499.0)
        return env, ppmo, es, run, "Λ (2x64 tanh, orthogonal)", 10.0
    if task in ("breakout", "spaceinvaders"):
        from jaxdistill.presets import minatar_learner

        env = make(minatar_id({"breakout": "Breakout", "spaceinvaders": "SpaceInvaders"}[task]))
        learner = minatar_learner(0)  # full distillation: ES evolves the dataset only, so neither has an encoder
        ppmo = PPMOConfig(k=16, meta_epochs=100_000, learner=learner, critic=minatar_learner(0, output_gain=1.0),
                          num_learners=4, num_envs=8, num_steps=64, num_minibatches=4, distiller_lr=1e-3,
                          ent_coef=0.01, inner=inner)
        es = ESConfig(k=16, population=64, generations=100_000, learner=learner, max_steps=500, inner=inner)
        run = RunOptions(eval_every=10, eval_learners=64, eval_policy="sampled", final_policies=("sampled", "greedy"),
                         eval_max_steps=500)
        return env, ppmo, es, run, "MinAtar CNN learners (full distillation)", 10.0
    if task == "hopper":
        from jaxdistill.presets import MUJOCO_PPMO

        env = make("hopper")  # Brax, positional backend (HaDES')
        ppmo = dataclasses.replace(MUJOCO_PPMO[("brax", "cpu")], k=64, meta_epochs=100_000, inner=inner)
        es = ESConfig(k=64, population=64, generations=100_000, inner=inner)
        run = RunOptions(eval_every=10, eval_learners=64, final_policies=("greedy", "sampled"))
        return env, ppmo, es, run, "Λ (2x64 tanh, orthogonal)", 10.0
    raise ValueError(f"unknown task {task!r}")


def run_dir(args: Args, task: str, protocol: str, method: str) -> Path:
    return args.out / f"{task}_{protocol}_{method}"


def run_one(args: Args, task: str, protocol: str, method: str) -> dict:
    from jaxdistill.run.harness import run_es, run_ppmo, write_results

    env, ppmo, es, run, label, minutes = task_setup(task, protocol)
    minutes = args.max_minutes if args.max_minutes is not None else minutes
    directory = run_dir(args, task, protocol, method)
    # A run cut off in an earlier sitting (its checkpoints, no results.json) continues where it stopped.
    run = dataclasses.replace(run, seed=args.seed, run_dir=directory, max_wall_time_s=60.0 * minutes, progress=False,
                              tensorboard=False, resume=(directory / "checkpoints").is_dir())
    title = f"{method.upper()} ({protocol}), {env.spec.env_id}"
    if method == "ppmo":
        result = run_ppmo(env, ppmo, run, learner_label=label, title=title)
    else:
        result = run_es(env, es, run, learner_label=label, title=title)
    write_results(directory, title, result)  # results.json keeps the rows: the curves of the report
    print(f"[es_vs_ppmo] {directory.name}: {result['kshot'][0]['mean']:.1f} after {result['env_steps']:,.0f} env steps, "
          f"{result['wall_time_s']:.0f} s", flush=True)
    return result


def _at(rows: list[dict], key: str, budget: float) -> float | None:
    """The k-shot mean of the last evaluation whose ``key`` is within ``budget``."""
    within = [r for r in rows if r[key] <= budget * (1 + 1e-9)]
    return within[-1]["kshot_mean"] if within else None


def report(args: Args) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables, out = [], {}
    for task in args.tasks:
        results = {}
        for protocol in args.protocols:
            for method in args.methods:
                path = run_dir(args, task, protocol, method) / "results.json"
                if path.is_file():
                    results[(protocol, method)] = json.loads(path.read_text())
        if not results:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for (protocol, method), r in results.items():
            for ax, key in zip(axes, ("env_steps", "wall_time")):
                xs = [row[key] for row in r["rows"]]
                ax.plot(xs, [row["kshot_mean"] for row in r["rows"]], label=f"{method.upper()} ({protocol})",
                        linestyle="-" if method == "ppmo" else "--")
        for ax, key in zip(axes, ("env steps", "wall time (s)")):
            ax.set_xlabel(key)
            ax.set_ylabel("k-shot return (evaluation during training)")
            ax.grid(alpha=0.3)
        axes[0].set_xscale("log")
        axes[1].set_xscale("log")
        axes[0].legend()
        fig.suptitle(f"PPMO vs ES: {task}")
        fig.tight_layout()
        fig.savefig(args.out / f"{task}.png", dpi=110)
        plt.close(fig)
        lines = [f"### {task}", "", ("| protocol | method | final k-shot (1000 learners) | env steps | wall time (s) | "
                                     "iterations | k-shot at equal env steps | k-shot at equal wall time |"),
                 "|---|---|---|---|---|---|---|---|"]
        for protocol in args.protocols:
            pair = {m: results[(protocol, m)] for m in args.methods if (protocol, m) in results}
            steps = min(r["rows"][-1]["env_steps"] for r in pair.values()) if pair else 0
            wall = min(r["rows"][-1]["wall_time"] for r in pair.values()) if pair else 0
            for method, r in pair.items():
                final = " / ".join(f"{row['mean']:.1f} ± {row['std']:.1f} ({row['policy']})" for row in r["kshot"])
                at_steps, at_wall = _at(r["rows"], "env_steps", steps), _at(r["rows"], "wall_time", wall)
                iters = r.get("meta_epochs", r.get("generations"))
                lines.append(f"| {protocol} | {method.upper()} | {final} | {r['env_steps']:,.0f} | {r['wall_time_s']:.0f} | "
                             f"{iters} | {'-' if at_steps is None else f'{at_steps:.1f}'} (at {steps:,.0f}) | "
                             f"{'-' if at_wall is None else f'{at_wall:.1f}'} (at {wall:.0f} s) |")
                out[f"{task}/{protocol}/{method}"] = {"final": r["kshot"], "env_steps": r["env_steps"],
                                                      "wall_time_s": r["wall_time_s"], "iterations": iters,
                                                      "at_equal_env_steps": at_steps, "equal_env_steps": steps,
                                                      "at_equal_wall_time": at_wall, "equal_wall_time_s": wall}
        tables.append("\n".join(lines) + f"\n\n![{task}]({task}.png)\n")
    if not tables:
        raise SystemExit(f"{PROG}: error: no finished runs of {', '.join(args.tasks)} in {args.out} to report; run them "
                         "first (without --report)")
    text = "# PPMO vs evolution strategies (2-core CPU)\n\n" + "\n".join(tables)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    print(text)
    return out


def main(args: Args):
    import math

    from experiments.common import check_out_dir
    from jaxdistill.core.errors import RunInterrupted

    if args.max_minutes is not None and not (math.isfinite(args.max_minutes) and args.max_minutes > 0):
        raise SystemExit(f"{PROG}: error: --max-minutes must be a finite number > 0 (got {args.max_minutes})")
    if not (args.tasks and args.protocols and args.methods):
        raise SystemExit(f"{PROG}: error: --tasks, --protocols and --methods need at least one value each")
    check_out_dir(args.out, PROG, "--out")
    if not args.report:
        for task in args.tasks:
            for protocol in args.protocols:
                for method in args.methods:
                    if (run_dir(args, task, protocol, method) / "results.json").is_file():
                        continue  # finished before: keep it
                    try:
                        run_one(args, task, protocol, method)
                    except RunInterrupted as e:  # the same command continues the study (and this run)
                        e.resume_flag, e.run_dir = False, None
                        raise
    return report(args)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli(PROG, main, lambda argv: tyro.cli(Args, args=argv))
