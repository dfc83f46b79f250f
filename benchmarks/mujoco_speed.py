"""Speed of continuous PPMO on both MuJoCo routes: seconds per meta-epoch beside seconds per PPO update on
the same rollout, environment steps per second of each, and the cost of training and evaluating 1000
fresh learners.

    python -m benchmarks.mujoco_speed                          # Brax hopper and EnvPool Hopper-v4, CPU presets
    python -m benchmarks.mujoco_speed --envs hopper --preset gpu

For each environment the PPO baseline gets PPMO's rollout (learners x environments per learner
environments, the same rollout length, minibatches and epochs), so the ratio isolates the cost of
the inner step and the meta-gradient. Writes ``benchmarks/results/mujoco_speed.json`` with the machine.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Literal

import jax
import tyro

from benchmarks.machine import describe_machine, interleaved_timings, ppmo_vs_ppo, write_record


@dataclasses.dataclass
class Args:
    envs: tuple[str, ...] = ("hopper", "Hopper-v4")
    """Environments (a Brax robot and/or an EnvPool MuJoCo-v4 task)."""
    preset: Literal["cpu", "gpu"] = "cpu"
    """Rollout sizes from the MuJoCo presets (``jaxdistill.presets``) for each environment's route."""
    timing_iterations: int = 3
    """Meta-epochs / PPO updates per measurement (after a warm-up)."""
    repeats: int = 3
    """Interleaved measurements; min and median are reported."""
    kshot_learners: int = 1000
    """Fresh learners to train (one step) and evaluate (one full episode each)."""
    out: Path = Path("benchmarks/results/mujoco_speed.json")
    """Where the JSON record goes."""


def measure(env_id: str, preset: str, n_it: int, repeats: int, num_learners: int) -> dict:
    from jaxdistill.distill.ppmo import make_ppmo
    from jaxdistill.envs import make
    from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
    from jaxdistill.presets import MUJOCO_PPMO, MUJOCO_PPO, route_of
    from jaxdistill.rl.ppo import make_ppo
    from jaxdistill.run.driver import make_trainer

    env = make(env_id)
    ppmo_config = MUJOCO_PPMO[(route_of(env_id), preset)].for_spec(env.spec)
    ppo_config = dataclasses.replace(
        MUJOCO_PPO[(route_of(env_id), preset)], num_envs=ppmo_config.num_learners * ppmo_config.num_envs,
        num_steps=ppmo_config.num_steps, num_minibatches=ppmo_config.num_minibatches,
        update_epochs=ppmo_config.update_epochs, anneal_lr=False)
    ppmo = make_ppmo(ppmo_config, env.spec)
    ppmo_trainer = make_trainer(env, ppmo.agent, n_it)
    ppo_trainer = make_trainer(env, make_ppo(ppo_config, env.spec), n_it)
    ppmo_state, ppo_state = ppmo_trainer.init(jax.random.PRNGKey(0)), ppo_trainer.init(jax.random.PRNGKey(0))
    t = interleaved_timings({"ppmo": lambda: ppmo_trainer.chunk(ppmo_state), "ppo": lambda: ppo_trainer.chunk(ppo_state)},
                            repeats)
    steps = ppmo.agent.env_steps_per_iteration
    record = {"route": route_of(env_id), "env_steps_per_iteration": steps, "k": ppmo_config.k,
              **ppmo_vs_ppo(t, n_it),
              "ppmo_env_steps_per_s": steps * n_it / t["ppmo"]["min"], "ppo_env_steps_per_s": steps * n_it / t["ppo"]["min"]}

    dataset, encoder, obs_norm = ppmo.artefact(ppmo_state.agent)
    learners = fresh_learners(env, ppmo_config.learner)
    train = jax.jit(learners.train, static_argnums=3)
    train_t = interleaved_timings({"train": lambda: train(jax.random.PRNGKey(1), dataset, encoder, num_learners)},
                                  repeats)["train"]
    evaluate = make_kshot_evaluate(env, learners, num_learners)
    jax.block_until_ready(evaluate(jax.random.PRNGKey(2), dataset, encoder, obs_norm))  # compile
    t0 = time.perf_counter()
    returns = jax.block_until_ready(evaluate(jax.random.PRNGKey(3), dataset, encoder, obs_norm))
    record.update({
        f"seconds_to_train_{num_learners}_learners_one_step": train_t,
        f"seconds_to_train_and_evaluate_{num_learners}_learners": time.perf_counter() - t0,
        "evaluation_note": "one full episode each (up to the task's limit) of the untrained dataset's learners: "
                           "a trained dataset's episodes last longer",
        "mean_episode_return_of_evaluation": float(returns.mean()),
    })
    return record


def main(args: Args) -> dict:
    record: dict = {"machine": describe_machine(), "preset": args.preset, "envs": {}}
    for env_id in args.envs:
        record["envs"][env_id] = measure(env_id, args.preset, args.timing_iterations, args.repeats,
                                         args.kshot_learners)
        print(env_id, json.dumps(record["envs"][env_id]), flush=True)
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
