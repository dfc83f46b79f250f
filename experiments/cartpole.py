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
from pathlib import Path
from typing import Literal

import tyro

from experiments.common import check_run_dir
from jaxdistill.distill.ppmo import PPMOConfig
from jaxdistill.run.harness import RunOptions, write_results


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
    from jaxdistill.distill.kmin import k_min

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
    check_run_dir(args.run_dir, "experiments.cartpole")
    return args


def run_options(args: Args, **overrides) -> RunOptions:
    return RunOptions(seed=args.seed, run_dir=args.run_dir, resume=args.resume, eval_every=args.eval_every,
                      eval_learners=args.eval_learners, final_eval_learners=args.final_eval_learners,
                      target_return=args.target_return, checkpoint_interval_s=args.checkpoint_interval_s,
                      tensorboard=args.tensorboard, progress=args.progress, **overrides)


def run_ppmo(args: Args) -> dict:
    from jaxdistill.envs import cartpole_id, make
    from jaxdistill.run.harness import run_ppmo as harness_ppmo

    config = PPMOConfig(
        k=args.k, meta_epochs=args.meta_epochs, num_learners=args.num_learners,
        num_envs=args.num_envs, num_steps=args.num_steps, num_minibatches=args.num_minibatches,
        update_epochs=args.update_epochs, distiller_lr=args.distiller_lr, critic_lr=args.critic_lr,
        inner_lr_init=args.inner_lr_init, ent_coef=args.ent_coef,
    )
    policies = ("greedy", "sampled") if args.sampled_eval else ("greedy",)
    return harness_ppmo(make(cartpole_id(args.dims)), config, run_options(args, final_policies=policies),
                        learner_label="Λ (2x64 tanh, orthogonal)", title=f"PPMO, {args.dims}-D cart-pole")


def run_ppo(args: Args) -> dict:
    from jaxdistill.envs import cartpole_id, make
    from jaxdistill.rl.ppo import PPOConfig
    from jaxdistill.run.harness import run_ppo as harness_ppo

    config = PPOConfig(total_timesteps=args.ppo_timesteps, num_envs=args.ppo_num_envs, num_steps=args.ppo_num_steps,
                       ent_coef=args.ppo_ent_coef)
    return harness_ppo(make(cartpole_id(args.dims)), config, run_options(args), title=f"PPO, {args.dims}-D cart-pole")


def main(args: Args) -> dict:
    args = validate(args)
    result = run_ppmo(args) if args.method == "ppmo" else run_ppo(args)
    result.pop("rows")
    table = write_results(args.run_dir, f"{result['env_id']} ({result['method']})", result)
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
