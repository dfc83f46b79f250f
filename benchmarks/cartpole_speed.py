"""Speed of PPMO on 1-D cart-pole: time to a distilled dataset, PPMO vs PPO per update, k-shot throughput.

    python -m benchmarks.cartpole_speed                  # writes benchmarks/results/cartpole_speed.json

Measures
1. wall time to distil 1-D cart-pole with k=2 until the k-shot mean over 1000 fresh Λ learners
   (evaluated every ``--eval-every`` meta-epochs) reaches ``--target`` (default 495), with and
   without compilation;
2. seconds per PPMO meta-epoch beside seconds per PPO update on the same rollout size (same number
   of environment steps, minibatch size and epochs), and their ratio (the paper: 1.15 on an A100);
3. k-shot learners trained per hour: sampling plus the one SGD step, vmapped over 1000 learners, and
   the same including a full 500-step evaluation episode each.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import tyro

from benchmarks.machine import describe_machine, interleaved_timings, ppmo_vs_ppo, write_record


@dataclasses.dataclass
class Args:
    seed: int = 0
    """Seed of the distillation run."""
    target: float = 495.0
    """k-shot mean over 1000 learners that counts as distilled."""
    max_meta_epochs: int = 3000
    """Give up after this many meta-epochs."""
    eval_every: int = 25
    """Meta-epochs between 1000-learner evaluations."""
    timing_iterations: int = 20
    """Meta-epochs / PPO updates per timing measurement (after a warm-up)."""
    repeats: int = 7
    """Timing measurements, interleaved between PPMO and PPO; min and median are reported (the min
    is the run least disturbed by other load, e.g. CPU steal on a shared VM)."""
    out: Path = Path("benchmarks/results/cartpole_speed.json")
    """Where the JSON record goes."""


def main(args: Args) -> dict:
    from jaxdistill.core.loop import train_loop
    from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo
    from jaxdistill.envs import make
    from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
    from jaxdistill.learn.inner import train_fresh_learners
    from jaxdistill.nets.networks import LearnerSpec
    from jaxdistill.rl.ppo import PPOConfig, make_ppo
    from jaxdistill.run.driver import make_trainer

    config = PPMOConfig(k=2, meta_epochs=args.max_meta_epochs)
    env = make("CartPole1D-v1")
    agent = make_ppmo(config, env.spec).agent
    record: dict = {"machine": describe_machine(), "ppmo_config": dataclasses.asdict(config)}

    # 1. time to distil
    evaluate = make_kshot_evaluate(env, fresh_learners(env, config.learner), 1000)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_loop(
            trainer=make_trainer(env, agent, args.eval_every),
            evaluate_fn=lambda k, s: evaluate(k, s.agent.dataset), total_iterations=args.max_meta_epochs, chunk=args.eval_every,
            env_steps_per_iteration=config.env_steps_per_meta_epoch, run_dir=tmp, seed=args.seed,
            config={}, target_return=args.target, checkpoint_interval_s=1e9, tensorboard=False, progress=False,
        )
    total_with_compile = time.perf_counter() - t_start
    fresh = np.asarray(evaluate(jax.random.PRNGKey(10_000 + args.seed), result.state.agent.dataset))
    record["time_to_distill"] = {
        "target_kshot_mean": args.target,
        "reached": result.reached_target_at is not None,
        "meta_epochs": result.reached_target_at,
        "env_steps": None if result.reached_target_at is None
        else result.reached_target_at * config.env_steps_per_meta_epoch,
        "wall_time_s_including_compile_and_evals": round(total_with_compile, 2),
        "training_loop_wall_time_s": round(result.wall_time, 2),
        "fresh_1000_learner_kshot": {"mean": float(fresh.mean()), "std": float(fresh.std())},
    }
    print("time to distil:", json.dumps(record["time_to_distill"]))

    # 2. PPMO meta-epoch vs PPO update on the same rollout size
    n_it = args.timing_iterations
    ppmo_trainer = make_trainer(env, agent, n_it)
    state = ppmo_trainer.init(jax.random.PRNGKey(args.seed))
    ppmo_chunk = ppmo_trainer.chunk
    ppo_config = PPOConfig(num_envs=config.num_learners * config.num_envs,
                           num_steps=config.num_steps, num_minibatches=config.num_minibatches,
                           update_epochs=config.update_epochs)
    ppo_trainer = make_trainer(env, make_ppo(ppo_config, env.spec), n_it)
    ppo_chunk = ppo_trainer.chunk
    ppo_state = ppo_trainer.init(jax.random.PRNGKey(args.seed))
    t = interleaved_timings({"ppmo": lambda: ppmo_chunk(state), "ppo": lambda: ppo_chunk(ppo_state)}, args.repeats)
    record["epoch_time"] = {
        "env_steps_per_iteration": config.env_steps_per_meta_epoch,
        "minibatch_size": config.env_steps_per_meta_epoch // config.num_minibatches,
        "update_epochs": config.update_epochs,
        **ppmo_vs_ppo(t, n_it),
        "paper_a100_atari": {"ppmo": 3.73, "ppo": 3.25, "ratio": 1.15},
    }
    print("epoch time:", json.dumps(record["epoch_time"]))

    # 3. k-shot learners per hour
    spec, n = LearnerSpec(), 1000
    dataset = result.state.agent.dataset

    @jax.jit
    def train_learners(key, dataset):
        return train_fresh_learners(key, spec, (4,), 2, n, dataset)[1]

    key = jax.random.PRNGKey(0)
    t = interleaved_timings({"train": lambda: train_learners(key, dataset), "eval": lambda: evaluate(key, dataset)},
                 args.repeats)
    record["kshot_throughput"] = {
        "learners_per_call": n,
        "seconds_to_sample_and_train_1000": t["train"],
        "learners_trained_per_hour": n * 3600 / t["train"]["min"],
        "seconds_to_train_and_run_1000_full_episodes": t["eval"],
        "learners_trained_and_evaluated_per_hour": n * 3600 / t["eval"]["min"],
        "paper_seconds_per_learner_atari_a100": 0.18,
    }
    print("k-shot throughput:", json.dumps(record["kshot_throughput"]))
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
