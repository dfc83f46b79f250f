"""Distil N-D cart-pole into k synthetic (state, soft label) pairs with PPMO, or train PPO on it.

    python -m experiments.cartpole                       # 1-D, k=2, the paper's Λ: about a minute on a CPU
    python -m experiments.cartpole --dims 2 --k 3        # 2-D at k_min
    python -m experiments.cartpole --method ppo --dims 2 # the direct-RL baseline
    python -m experiments.cartpole --resume              # continue a killed run from its checkpoint

Writes into ``--run-dir`` (default ``runs/cartpole<N>d_k<K>_<method>_s<seed>``): ``dataset/``
(``dataset.npz`` + ``metadata.json``), ``metrics.csv``, ``tensorboard/``, ``checkpoints/``,
``learning_curve.png``, ``dataset.png`` and ``results.json`` / ``results.md`` with the k-shot table.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Literal

import tyro

from experiments.common import format_table, summarize
from jaxdistill.ppmo import PPMOConfig


@dataclasses.dataclass
class Args:
    dims: int = 1
    """Number of cart-pole dimensions N (2N actions, 4N observation features)."""
    k: int | None = None
    """Synthetic instances; default k_min = ceil(2N / 2) + 1 = N + 1."""
    method: Literal["ppmo", "ppo"] = "ppmo"
    """ppmo distils a dataset; ppo trains a policy directly (the baseline)."""
    seed: int = 0
    """Seed of the whole run (dataset init, learners, environments, evaluation)."""
    meta_epochs: int = 3000
    """PPMO meta-epoch budget (training stops earlier once --target-return is reached)."""
    target_return: float | None = 499.0
    """Stop once an evaluation's mean k-shot return reaches this; None trains the whole budget."""
    num_learners: int = PPMOConfig.num_learners
    """Learners sampled from Λ per meta-epoch; their meta-gradients are averaged."""
    num_envs: int = PPMOConfig.num_envs
    """Environments per learner."""
    num_steps: int = PPMOConfig.num_steps
    """Rollout length per environment and meta-epoch."""
    num_minibatches: int = PPMOConfig.num_minibatches
    """Minibatches per policy epoch."""
    update_epochs: int = PPMOConfig.update_epochs
    """Policy epochs per meta-epoch (paper: 4)."""
    distiller_lr: float = PPMOConfig.distiller_lr
    """Adam learning rate of the dataset (paper: 2.5e-4)."""
    critic_lr: float = PPMOConfig.critic_lr
    """Adam learning rate of the critic (paper: 2.5e-4)."""
    inner_lr_init: float = PPMOConfig.inner_lr_init
    """Initial learned inner learning rate (paper: 0.02)."""
    ent_coef: float = PPMOConfig.ent_coef
    """Entropy bonus in the meta-loss (PPMO) — PPO uses --ppo-ent-coef."""
    ppo_timesteps: int = 1_000_000
    """Environment steps for --method ppo."""
    ppo_num_envs: int = 4
    """Environments for --method ppo (CleanRL's CartPole setting)."""
    ppo_num_steps: int = 128
    """Rollout length per environment and update for --method ppo."""
    ppo_ent_coef: float = 0.01
    """Entropy coefficient for --method ppo (Huang et al.)."""
    eval_every: int = 25
    """Meta-epochs (or PPO updates) between evaluations, progress updates and checkpoint chances."""
    eval_learners: int = 1000
    """Fresh learners (or PPO episodes) per evaluation during training."""
    final_eval_learners: int = 1000
    """Fresh learners in the final k-shot table."""
    sampled_eval: bool = False
    """Also report the k-shot table with actions sampled from softmax(outputs), not only argmax."""
    run_dir: Path | None = None
    """Output directory; default runs/cartpole<N>d_k<K>_<method>_s<seed>."""
    resume: bool = False
    """Continue from the latest checkpoint in --run-dir."""
    checkpoint_interval_s: float = 120.0
    """Seconds between checkpoints (one is always written at exit)."""
    tensorboard: bool = True
    """Write TensorBoard event files under <run-dir>/tensorboard."""
    progress: bool = True
    """Show a progress bar."""


def validate(args: Args) -> Args:
    """Reject bad arguments with a clear message before anything is compiled."""
    from jaxdistill.kmin import k_min

    errors = []
    if args.dims < 1:
        errors.append(f"--dims must be >= 1 (got {args.dims})")
    if args.k is not None and args.k < 1:
        errors.append(f"--k must be >= 1 (got {args.k})")
    for name in ("meta_epochs", "num_learners", "num_envs", "num_steps", "num_minibatches",
                 "update_epochs", "eval_every", "eval_learners", "final_eval_learners", "ppo_num_envs",
                 "ppo_num_steps", "ppo_timesteps"):
        if getattr(args, name) < 1:
            errors.append(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(args, name)})")
    if args.method not in ("ppmo", "ppo"):
        errors.append(f"--method must be 'ppmo' or 'ppo' (got {args.method!r})")
    if args.num_minibatches >= 1 and (args.num_envs * args.num_steps) % args.num_minibatches:
        errors.append(
            f"--num-envs x --num-steps ({args.num_envs * args.num_steps}) must be divisible by "
            f"--num-minibatches ({args.num_minibatches})"
        )
    for name in ("distiller_lr", "critic_lr", "inner_lr_init"):
        if not getattr(args, name) > 0:
            errors.append(f"--{name.replace('_', '-')} must be > 0 (got {getattr(args, name)})")
    if errors:
        raise SystemExit("experiments.cartpole: error: " + "; ".join(errors))
    if args.k is None and args.dims >= 1:
        args = dataclasses.replace(args, k=k_min(2 * args.dims))
    if args.run_dir is None:
        suffix = f"k{args.k}_ppmo" if args.method == "ppmo" else "ppo"
        args = dataclasses.replace(args, run_dir=Path("runs") / f"cartpole{args.dims}d_{suffix}_s{args.seed}")
    return args


def run_ppmo(args: Args) -> dict:

    from jaxdistill.dataset import save_dataset
    from jaxdistill.envs import cartpole_id, make_env
    from jaxdistill.evaluation import make_kshot_evaluate
    from jaxdistill.plotting import (
        cartpole_action_names,
        cartpole_feature_names,
        plot_dataset,
        plot_learning_curve,
    )
    from jaxdistill.ppmo import PPMOConfig, make_meta_epochs, make_ppmo
    from jaxdistill.train import config_to_dict, run_keys, train_loop

    env_id = cartpole_id(args.dims)
    config = PPMOConfig(
        env_id=env_id, k=args.k, num_meta_epochs=args.meta_epochs, num_learners=args.num_learners,
        num_envs=args.num_envs, num_steps=args.num_steps, num_minibatches=args.num_minibatches,
        update_epochs=args.update_epochs, distiller_lr=args.distiller_lr, critic_lr=args.critic_lr,
        inner_lr_init=args.inner_lr_init, ent_coef=args.ent_coef,
    )
    env, env_params = make_env(env_id)
    init = make_ppmo(config).init
    chunk = make_meta_epochs(config, args.eval_every)
    evaluate = make_kshot_evaluate(env, env_params, config.learner, args.eval_learners)
    print(f"[jaxdistill] PPMO on {env_id}: k={args.k}, {config.env_steps_per_meta_epoch} env steps per "
          f"meta-epoch, up to {args.meta_epochs} meta-epochs -> {args.run_dir}", file=sys.stderr)
    result = train_loop(
        init_fn=init, chunk_fn=chunk,
        evaluate_fn=lambda key, state: evaluate(key, state.dataset),
        iteration_of=lambda s: int(s.meta_epoch), total_iterations=args.meta_epochs, chunk=args.eval_every,
        env_steps_per_iteration=config.env_steps_per_meta_epoch, run_dir=args.run_dir, seed=args.seed,
        config=config_to_dict(args), target_return=args.target_return,
        checkpoint_interval_s=args.checkpoint_interval_s, resume=args.resume,
        tensorboard=args.tensorboard, progress=args.progress, desc=f"PPMO {args.dims}-D k={args.k}",
    )
    dataset = result.state.dataset
    dataset_dir = save_dataset(
        args.run_dir / "dataset", dataset, env_id=env_id, learner_spec=config.learner.to_dict(),
        config=config_to_dict(config),
        extra={"meta_epochs": int(result.state.meta_epoch), "seed": args.seed},
    )
    final_key = run_keys(args.seed)[2]
    table = [summarize(
        make_kshot_evaluate(env, env_params, config.learner, args.final_eval_learners)(final_key, dataset),
        "Λ (2x64 tanh, orthogonal)", "greedy")]
    if args.sampled_eval:
        table.append(summarize(
            make_kshot_evaluate(env, env_params, config.learner, args.final_eval_learners, greedy=False)(
                final_key, dataset),
            "Λ (2x64 tanh, orthogonal)", "sampled"))
    plot_learning_curve(result.rows, args.run_dir / "learning_curve.png",
                        title=f"PPMO, {args.dims}-D cart-pole, k={args.k}")
    plot_dataset(dataset.x, dataset.y, args.run_dir / "dataset.png",
                 cartpole_feature_names(args.dims), cartpole_action_names(args.dims),
                 title=f"{args.dims}-D cart-pole distilled to k={args.k} (inner lr {float(dataset.inner_lr):.3f})")
    return {"method": "ppmo", "env_id": env_id, "k": args.k, "meta_epochs": int(result.state.meta_epoch),
            "env_steps": int(result.state.meta_epoch) * config.env_steps_per_meta_epoch,
            "reached_target_at": result.reached_target_at, "finished": result.finished,
            "wall_time_s": result.wall_time, "inner_lr": float(dataset.inner_lr), "kshot": table,
            "dataset_dir": str(dataset_dir)}


def run_ppo(args: Args) -> dict:
    import jax

    from jaxdistill.envs import cartpole_id, make_env
    from jaxdistill.evaluation import run_episodes
    from jaxdistill.plotting import plot_learning_curve
    from jaxdistill.ppo import PPOConfig, make_ppo
    from jaxdistill.train import config_to_dict, run_keys, train_loop

    env_id = cartpole_id(args.dims)
    config = PPOConfig(env_id=env_id, total_timesteps=args.ppo_timesteps, num_envs=args.ppo_num_envs,
                       num_steps=args.ppo_num_steps, update_epochs=args.update_epochs, ent_coef=args.ppo_ent_coef)
    env, env_params = make_env(env_id)
    init, update = make_ppo(config)[:2]

    def chunk(state):
        return jax.lax.scan(lambda s, _: update(s), state, None, length=args.eval_every)

    def evaluate(key, state, n):
        return run_episodes(key, env, env_params, lambda obs: config.actor.apply(state.actor_params, obs), n, True)

    steps_per_update = config.num_envs * config.num_steps
    result = train_loop(
        init_fn=init, chunk_fn=chunk, evaluate_fn=lambda k, s: evaluate(k, s, args.eval_learners),
        iteration_of=lambda s: int(s.update_step), total_iterations=config.num_updates, chunk=args.eval_every,
        env_steps_per_iteration=steps_per_update, run_dir=args.run_dir, seed=args.seed,
        config=config_to_dict(args), target_return=args.target_return,
        checkpoint_interval_s=args.checkpoint_interval_s, resume=args.resume,
        tensorboard=args.tensorboard, progress=args.progress, desc=f"PPO {args.dims}-D",
    )
    final_key = run_keys(args.seed)[2]
    returns = jax.jit(lambda k, s: evaluate(k, s, args.final_eval_learners))(final_key, result.state)
    plot_learning_curve(result.rows, args.run_dir / "learning_curve.png", title=f"PPO, {args.dims}-D cart-pole")
    return {"method": "ppo", "env_id": env_id, "updates": int(result.state.update_step),
            "env_steps": int(result.state.update_step) * steps_per_update,
            "reached_target_at": result.reached_target_at, "finished": result.finished,
            "wall_time_s": result.wall_time,
            "kshot": [summarize(returns, "the trained PPO actor", "greedy")]}


def main(args: Args) -> dict:
    args = validate(args)
    result = run_ppmo(args) if args.method == "ppmo" else run_ppo(args)
    table = format_table(result["kshot"])
    (args.run_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.run_dir / "results.md").write_text(f"# {result['env_id']} ({result['method']})\n\n{table}\n")
    what = (f"k-shot return over {args.final_eval_learners} fresh learners, one SGD step each on the {args.k} "
            "distilled pairs" if args.method == "ppmo" else "greedy return of the PPO actor")
    print(f"\n{what} ({result['env_steps']:,} env steps, {result['wall_time_s']:.1f} s of training):\n")
    print(table)
    if args.method == "ppmo":
        print(f"\ndataset written to {result['dataset_dir']}/dataset.npz (+ metadata.json)")
    print(f"run directory: {args.run_dir} (metrics.csv, learning_curve.png, results.md)")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
