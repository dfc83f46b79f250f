"""One run harness for every experiment: train (PPMO or PPO) on any environment, evaluate, write everything.

An experiment CLI builds an environment (``jaxdistill.envs.make``), an algorithm config and
:class:`RunOptions`, and calls :func:`run_ppmo` or :func:`run_ppo`. Both write into the run
directory: ``metrics.csv``, ``tensorboard/``, ``checkpoints/``, ``learning_curve.png``,
``results.{json,md}``; PPMO also ``dataset/`` (+ ``encoder.npz``) and ``dataset.png``, PPO ``policy/`` (the
trained actor, :mod:`jaxdistill.rl.policy_file`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Literal

import jax
import numpy as np

from jaxdistill.core.loop import config_to_dict, device_summary, run_keys, train_loop
from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo
from jaxdistill.eval.episodes import play_episodes, staged
from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
from jaxdistill.learn.dataset import format_inner_lr, inner_lr_value, save_dataset
from jaxdistill.learn.inner import ONE_STEP, InnerTraining
from jaxdistill.rl.policy_file import save_policy
from jaxdistill.rl.ppo import PPOConfig, make_ppo
from jaxdistill.run.driver import make_trainer
from jaxdistill.run.plotting import (
    plot_continuous_dataset,
    plot_dataset,
    plot_image_dataset,
    plot_learning_curve,
)

Policy = Literal["greedy", "sampled"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Options of one run that do not change what is learned (seed aside)."""

    seed: int = 0
    """Seed of the whole run (initialisations, learners, environments, evaluations)."""
    run_dir: Path | None = None
    """Output directory (each experiment names a default under runs/)."""
    resume: bool = False
    """Continue from the latest checkpoint in --run-dir."""
    overwrite: bool = False
    """Delete another run's checkpoints, metrics and outputs in --run-dir and start afresh (without it, or
    --resume, a run directory that holds another run is refused)."""
    eval_every: int = 25
    """Iterations (PPMO meta-epochs, PPO updates) between evaluations, progress rows and checkpoint chances."""
    eval_learners: int = 1000
    """Fresh learners (PPO: episodes) per evaluation during training."""
    final_eval_learners: int = 1000
    """Fresh learners (PPO: episodes) in the final table."""
    eval_policy: Policy = "greedy"
    """How evaluations during training act: argmax / mean (greedy) or sampled."""
    final_policies: tuple[Policy, ...] = ("greedy",)
    """The final table's rows: greedy and/or sampled actions."""
    eval_max_steps: int | None = None
    """Agent steps after which an evaluation episode counts with its return so far (default: the episode limit)."""
    target_return: float | None = None
    """Stop once an evaluation's mean return reaches this (None: train the whole budget)."""
    max_wall_time_s: float | None = None
    """Stop after the first evaluation at or past this many seconds of the run (None: no time budget); for
    comparisons at equal wall time."""
    checkpoint_interval_s: float = 120.0
    """Seconds between checkpoints (one is always written at exit)."""
    tensorboard: bool = True
    """Write TensorBoard event files."""
    progress: bool = True
    """Show a progress bar."""


def _loop_options(run: RunOptions, title: str) -> dict:
    """The run options every training loop takes the same way."""
    return {"run_dir": run.run_dir, "seed": run.seed, "target_return": run.target_return,
            "checkpoint_interval_s": run.checkpoint_interval_s, "resume": run.resume, "tensorboard": run.tensorboard,
            "progress": run.progress, "desc": title, "max_wall_time_s": run.max_wall_time_s,
            "overwrite": run.overwrite}


def _announce(what: str, env, steps_per_iteration: int, iterations: int, run_dir: Path, gpu_sized: bool) -> None:
    print(f"[jaxdistill] {what} on {env.spec.env_id}: {steps_per_iteration:,} env steps per iteration, "
          f"{iterations} iterations -> {run_dir}", file=sys.stderr)
    print(f"[jaxdistill] running on {device_summary()}", file=sys.stderr)
    if gpu_sized and jax.default_backend() == "cpu":
        print("[jaxdistill] warning: these are GPU-sized settings on a CPU; an estimate of the run's time follows "
              "its first iterations (--preset cpu sizes a run for a CPU)", file=sys.stderr)


def _eta_note(gpu_sized: bool) -> str | None:
    return "--preset cpu sizes a run for a CPU" if gpu_sized and jax.default_backend() == "cpu" else None


def _plot_dataset(env, dataset, path: Path, title: str, channels_first: bool) -> None:
    spec = env.spec
    if np.size(dataset.log_std):  # continuous actions: mean targets and the learned std
        plot_continuous_dataset(dataset.x, dataset.y, dataset.log_std, path, spec.action_names, title=title)
    elif len(spec.obs_shape) == 3:
        plot_image_dataset(dataset.x, dataset.y, path, action_names=spec.action_names, channels_first=channels_first,
                           max_channels=spec.obs_shape[0 if channels_first else -1], title=title)
    else:
        plot_dataset(dataset.x, dataset.y, path, spec.feature_names, spec.action_names, title=title)


def summarize(returns, learners: str, policy: str) -> dict:
    """One row of a k-shot (or episode-return) table."""
    r = np.asarray(returns)
    return {"learners": learners, "policy": policy, "n": int(r.size), "mean": float(r.mean()),
            "std": float(r.std()), "min": float(r.min()), "max": float(r.max())}


def format_table(rows: list[dict]) -> str:
    lines = ["| learners | policy | episodes | mean ± std | min | max |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['learners']} | {r['policy']} | {r['n']} | {r['mean']:.1f} ± {r['std']:.1f} "
                     f"| {r['min']:.0f} | {r['max']:.0f} |")
    return "\n".join(lines)


def _write_distilled(env, config, learners, run: RunOptions, result, artefact, extra: dict, learner_label: str,
                     title: str):
    """What every distiller writes at the end: the dataset file (with its inner training), the final k-shot
    table over fresh learners, the learning curve and the dataset's picture. Returns ``(dataset_dir, table)``."""
    dataset, encoder, obs_norm = artefact
    dataset_dir = save_dataset(
        run.run_dir / "dataset", dataset, env_spec=env.spec, learner_spec=config.learner, encoder_params=encoder,
        obs_norm=obs_norm, config=config_to_dict(config), inner_step=inner_step_text(config.inner),
        extra={**extra, "seed": run.seed, **config.inner.metadata()},
    )
    final_key = run_keys(run.seed)[2]
    table = []
    for policy in run.final_policies:
        final = make_kshot_evaluate(env, learners, run.final_eval_learners, greedy=policy == "greedy",
                                    max_steps=run.eval_max_steps)
        table.append(summarize(final(final_key, dataset, encoder, obs_norm), learner_label, policy))
    plot_learning_curve(result.rows, run.run_dir / "learning_curve.png", title=title,
                        kshot_label=f"k-shot return ({run.eval_policy})")
    _plot_dataset(env, dataset, run.run_dir / "dataset.png",
                  f"{title}: k={config.k} (inner lr {format_inner_lr(dataset.inner_lr)})",
                  getattr(config.learner, "channels_first", False))
    return dataset_dir, table


def run_ppmo(env, config: PPMOConfig, run: RunOptions, *, learner_label: str, title: str,
             gpu_sized: bool = False) -> dict:
    """Distil ``env`` with PPMO; returns the result dict (also written to ``results.json``)."""
    config = config.for_spec(env.spec)
    ppmo = make_ppmo(config, env.spec)
    trainer = make_trainer(env, ppmo.agent, run.eval_every)
    learners = fresh_learners(env, config.learner, inner=config.inner)
    evaluate = make_kshot_evaluate(env, learners, run.eval_learners, greedy=run.eval_policy == "greedy",
                                   max_steps=run.eval_max_steps)
    steps = ppmo.agent.env_steps_per_iteration
    _announce(f"PPMO (k={config.k})", env, steps, config.meta_epochs, run.run_dir, gpu_sized)
    result = train_loop(
        trainer=trainer, evaluate_fn=lambda key, state: evaluate(key, *ppmo.artefact(state.agent)),
        total_iterations=config.meta_epochs, chunk=run.eval_every, env_steps_per_iteration=steps,
        config=config_to_dict(config), may_change=("meta_epochs",),
        **_loop_options(run, title),
        eta_note=_eta_note(gpu_sized), watch=lambda state: ppmo.artefact(state.agent),
    )
    dataset, encoder, obs_norm = ppmo.artefact(result.state.agent)
    meta_epochs = int(result.state.iteration)
    dataset_dir, table = _write_distilled(env, config, learners, run, result, (dataset, encoder, obs_norm),
                                          {"meta_epochs": meta_epochs}, learner_label, title)
    return {"method": "ppmo", "env_id": env.spec.env_id, "k": config.k,
            "encoder_layers": config.learner.encoder_layers, "meta_epochs": meta_epochs,
            "env_steps": meta_epochs * steps, "reached_target_at": result.reached_target_at,
            "finished": result.finished, "wall_time_s": result.wall_time, "inner_lr": inner_lr_value(dataset.inner_lr),
            **({"std": np.exp(np.asarray(dataset.log_std)).tolist()} if np.size(dataset.log_std) else {}),
            "kshot": table, "dataset_dir": str(dataset_dir), "rows": result.rows}


def run_es(env, config, run: RunOptions, *, learner_label: str, title: str, mesh=None) -> dict:
    """Distil ``env`` with evolution strategies (:mod:`jaxdistill.distill.es`); returns the result dict (also
    written to ``results.json``), with the same k-shot evaluator, dataset file and plots as :func:`run_ppmo`.

    ``env_steps`` counts the agent steps inside fitness episodes (``alive_steps``); ``computed_env_steps``
    what the graph stepped (every episode runs to its step limit)."""
    from jaxdistill.core.trainer import ScanTrainer
    from jaxdistill.distill.es import make_es

    config = config.for_spec(env.spec)
    es = make_es(config, env, mesh)
    trainer = ScanTrainer(es.init, es.generation, run.eval_every)
    learners = fresh_learners(env, config.learner, inner=config.inner)
    evaluate = make_kshot_evaluate(env, learners, run.eval_learners, greedy=run.eval_policy == "greedy",
                                   max_steps=run.eval_max_steps)
    _announce(f"ES (k={config.k}, population {config.population})", env, es.env_steps_per_generation,
              config.generations, run.run_dir, False)
    result = train_loop(
        trainer=trainer, evaluate_fn=lambda key, state: evaluate(key, es.artefact(state), (), es.obs_norm),
        total_iterations=config.generations, chunk=run.eval_every, env_steps_per_iteration=es.env_steps_per_generation,
        config=config_to_dict(config), may_change=("generations",),
        **_loop_options(run, title), env_steps_of=lambda s: s.alive_steps, watch=es.artefact,
    )
    dataset = es.artefact(result.state)
    generations = int(result.state.iteration)
    dataset_dir, table = _write_distilled(env, config, learners, run, result, (dataset, (), es.obs_norm),
                                          {"method": "es", "generations": generations}, learner_label, title)
    return {"method": "es", "env_id": env.spec.env_id, "k": config.k, "generations": generations,
            "population": config.population, "env_steps": float(result.state.alive_steps),
            "computed_env_steps": generations * es.env_steps_per_generation,
            "reached_target_at": result.reached_target_at, "finished": result.finished,
            "wall_time_s": result.wall_time, "inner_lr": inner_lr_value(dataset.inner_lr),
            **({"std": np.exp(np.asarray(dataset.log_std)).tolist()} if np.size(dataset.log_std) else {}),
            "kshot": table, "dataset_dir": str(dataset_dir), "rows": result.rows}


def inner_step_text(inner: InnerTraining) -> str | None:
    """The dataset file's ``inner_step`` words: the standard ones (None) for the paper's one SGD step."""
    return None if inner == ONE_STEP else inner.describe()


def make_actor_evaluate(env, agent, num: int, greedy: bool, max_steps: int | None = None):
    """``evaluate(key, agent_state) -> returns`` of ``num`` episodes of the trained PPO actor, compiled once."""

    def policy(actor, obs):
        return agent.policy(None, actor, obs)  # PPO's policy reads only its actor

    play = staged(env, lambda key, actor: play_episodes(env, key, policy, actor, num, agent.dist, greedy, None,
                                                        max_steps))
    # PPO's one actor (its parameters, log std and frozen observation statistics), without the group axis.
    return lambda key, state: play(key, jax.tree_util.tree_map(lambda x: x[0], agent.actors(None, state)))


def run_ppo(env, config: PPOConfig, run: RunOptions, *, title: str, gpu_sized: bool = False) -> dict:
    """Train PPO on ``env``; returns the result dict with the trained actor's returns."""
    agent = make_ppo(config, env.spec)
    trainer = make_trainer(env, agent, run.eval_every)
    evaluate = make_actor_evaluate(env, agent, run.eval_learners, run.eval_policy == "greedy", run.eval_max_steps)
    steps = agent.env_steps_per_iteration
    _announce("PPO", env, steps, config.num_updates, run.run_dir, gpu_sized)
    result = train_loop(
        trainer=trainer,
        evaluate_fn=lambda key, state: evaluate(key, state.agent),
        total_iterations=config.num_updates, chunk=run.eval_every, env_steps_per_iteration=steps,
        config=config_to_dict(config), may_change=("total_timesteps",),
        **_loop_options(run, title),
        eta_note=_eta_note(gpu_sized),
    )
    final_key = run_keys(run.seed)[2]
    table = [summarize(make_actor_evaluate(env, agent, run.final_eval_learners, policy == "greedy",
                                           run.eval_max_steps)(final_key, result.state.agent),
                       "the trained PPO actor", policy)
             for policy in run.final_policies]
    plot_learning_curve(result.rows, run.run_dir / "learning_curve.png", title=title,
                        kshot_label=f"PPO actor return ({run.eval_policy})")
    updates = int(result.state.iteration)
    actor, log_std, obs_norm = jax.tree_util.tree_map(lambda x: x[0], agent.actors(None, result.state.agent))
    save_policy(run.run_dir / "policy", env_spec=env.spec, spec=config.actor, actor=actor, log_std=log_std,
                obs_norm=obs_norm, config=config_to_dict(config),
                extra={"updates": updates, "env_steps": updates * steps, "seed": run.seed,
                       "returns": table})
    return {"method": "ppo", "env_id": env.spec.env_id, "updates": updates, "env_steps": updates * steps,
            "reached_target_at": result.reached_target_at, "finished": result.finished,
            "wall_time_s": result.wall_time, "kshot": table, "rows": result.rows}


def write_results(run_dir: Path, title: str, result: dict, intro: str = "") -> str:
    """``results.json`` and ``results.md`` in ``run_dir``; returns the Markdown table."""
    table = format_table(result["kshot"])
    (run_dir / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (run_dir / "results.md").write_text(f"# {title}\n\n{intro}{table}\n")
    return table
