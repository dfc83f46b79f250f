"""Distil any gymnax environment with PPMO, or train PPO on it (the baseline), by its gymnax id.

    python -m experiments.gymnax --env Acrobot-v1                    # PPMO, k = k_min
    python -m experiments.gymnax --env Acrobot-v1 --method ppo       # the baseline at the same env steps
    python -m experiments.gymnax --env Pendulum-v1 --method ppo      # Gaussian PPO (continuous actions)
    python -m experiments.gymnax --env Catch-bsuite --k 4 --resume

The learner is the paper's Λ (2x64 tanh MLP); image environments (MinAtar) have their own command,
``experiments.minatar``. Every run writes what ``experiments.cartpole`` writes: ``dataset/`` (PPMO),
``metrics.csv``, ``tensorboard/``, ``checkpoints/``, ``learning_curve.png``, ``dataset.png`` (PPMO)
and ``results.{json,md}`` with the final table beside a random policy (discrete actions).
Per-environment defaults (:data:`PRESETS`) apply to every option left unset.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import tyro

from experiments.common import check_positive, check_run_dir, print_results

# Options that differ per environment; anything not named here uses Args' own default.
PRESETS: dict[str, dict] = {
    # Pendulum: CleanRL/rl-zoo-style continuous PPO sizes (gamma 0.9 is what makes it learn quickly).
    "Pendulum-v1": {"ppo_timesteps": 1_000_000, "ppo_num_envs": 16, "ppo_num_steps": 128, "ppo_lr": 1e-3,
                    "ppo_update_epochs": 10, "ppo_num_minibatches": 8, "gamma": 0.9, "ppo_ent_coef": 0.0,
                    "reward_scale": 0.1, "eval_every": 20, "eval_learners": 64, "meta_epochs": 300},
    "Acrobot-v1": {"meta_epochs": 300, "ppo_timesteps": 1_228_800, "eval_every": 25, "eval_learners": 200},
}


@dataclasses.dataclass
class Args:
    env: str = "Acrobot-v1"
    """A gymnax environment id (gymnax.registered_envs), or CartPole<N>D-v1."""
    method: Literal["ppmo", "ppo"] = "ppmo"
    """ppmo distils a dataset; ppo trains a policy directly (the baseline)."""
    k: int | None = None
    """Synthetic instances (PPMO); default k_min = ceil(c / 2) + 1 for c actions (continuous: 2 x dims + 1)."""
    seed: int = 0
    """Seed of the whole run."""
    meta_epochs: int | None = None
    """PPMO meta-epochs (default 200, or the environment's preset)."""
    ppo_timesteps: int | None = None
    """PPO environment steps (default: the PPMO run's env steps, or the preset)."""
    ppo_num_envs: int | None = None
    """PPO environments (default 4)."""
    ppo_num_steps: int | None = None
    """PPO rollout length per environment and update (default 128)."""
    ppo_num_minibatches: int | None = None
    """PPO minibatches per epoch (default 4)."""
    ppo_update_epochs: int | None = None
    """PPO epochs per update (default 4)."""
    ppo_lr: float | None = None
    """PPO Adam learning rate (default 2.5e-4)."""
    ppo_ent_coef: float | None = None
    """PPO entropy coefficient (default 0.01)."""
    gamma: float | None = None
    """Discount (default 0.99)."""
    reward_scale: float | None = None
    """PPO reward scale for the value targets (default 1)."""
    eval_every: int | None = None
    """Iterations between evaluations (default 25)."""
    eval_learners: int | None = None
    """Fresh learners (PPO: episodes) per evaluation during training (default 200)."""
    final_eval_learners: int = 1000
    """Fresh learners (PPO: episodes) in the final table."""
    run_dir: Path | None = None
    """Output directory; default runs/<env>_<method>_s<seed>."""
    resume: bool = False
    """Continue from the latest checkpoint in --run-dir."""
    checkpoint_interval_s: float = 120.0
    """Seconds between checkpoints."""
    tensorboard: bool = True
    """Write TensorBoard event files."""
    progress: bool = True
    """Show a progress bar."""


_DEFAULTS = {"meta_epochs": 200, "ppo_num_envs": 4, "ppo_num_steps": 128, "ppo_num_minibatches": 4,
             "ppo_update_epochs": 4, "ppo_lr": 2.5e-4, "ppo_ent_coef": 0.01, "gamma": 0.99, "reward_scale": 1.0,
             "eval_every": 25, "eval_learners": 200}


def validate(args: Args):
    from jaxdistill.distill.kmin import k_min
    from jaxdistill.distill.ppmo import PPMOConfig
    from jaxdistill.envs import make

    try:
        env = make(args.env)
    except ValueError as e:
        raise SystemExit(f"experiments.gymnax: error: {e}") from None
    if len(env.spec.obs_shape) != 1:
        raise SystemExit(f"experiments.gymnax: error: {args.env} observes images {env.spec.obs_shape}; "
                         "use experiments.minatar for MinAtar")
    fill = {**_DEFAULTS, **PRESETS.get(args.env, {})}
    args = dataclasses.replace(args, **{k: v for k, v in fill.items() if getattr(args, k) is None})
    if args.ppo_timesteps is None:
        args = dataclasses.replace(args, ppo_timesteps=args.meta_epochs * PPMOConfig().num_learners
                                   * PPMOConfig().num_envs * PPMOConfig().num_steps)
    errors: list[str] = []
    check_positive(args, ("k", "meta_epochs", "ppo_timesteps", "ppo_num_envs", "ppo_num_steps", "ppo_num_minibatches",
                          "ppo_update_epochs", "eval_every", "eval_learners", "final_eval_learners"), errors)
    if (args.ppo_num_envs * args.ppo_num_steps) % args.ppo_num_minibatches:
        errors.append("--ppo-num-envs x --ppo-num-steps must be divisible by --ppo-num-minibatches")
    if errors:
        raise SystemExit("experiments.gymnax: error: " + "; ".join(errors))
    if args.k is None:
        c = env.spec.num_actions if env.spec.discrete else 2 * env.spec.num_actions
        args = dataclasses.replace(args, k=k_min(c))
    if args.run_dir is None:
        what = f"k{args.k}_ppmo" if args.method == "ppmo" else "ppo"
        args = dataclasses.replace(args, run_dir=Path("runs") / f"{args.env.lower()}_{what}_s{args.seed}")
    check_run_dir(args.run_dir, "experiments.gymnax")
    return args, env


def main(args: Args) -> dict:
    args, env = validate(args)
    from jaxdistill.distill.ppmo import PPMOConfig
    from jaxdistill.rl.ppo import PPOConfig
    from jaxdistill.run.harness import RunOptions, random_policy_returns, run_ppmo, run_ppo, summarize
    from jaxdistill.run.loop import run_keys

    run = RunOptions(seed=args.seed, run_dir=args.run_dir, resume=args.resume, eval_every=args.eval_every,
                     eval_learners=args.eval_learners, final_eval_learners=args.final_eval_learners,
                     final_policies=("greedy", "sampled"), checkpoint_interval_s=args.checkpoint_interval_s,
                     tensorboard=args.tensorboard, progress=args.progress)
    title = f"{'PPMO' if args.method == 'ppmo' else 'PPO'}, {args.env}"
    if args.method == "ppmo":
        config = PPMOConfig(k=args.k, meta_epochs=args.meta_epochs, gamma=args.gamma)
        result = run_ppmo(env, config, run, learner_label="Λ (2x64 tanh, orthogonal)", title=title)
    else:
        config = PPOConfig(total_timesteps=args.ppo_timesteps, num_envs=args.ppo_num_envs, num_steps=args.ppo_num_steps,
                           num_minibatches=args.ppo_num_minibatches, update_epochs=args.ppo_update_epochs,
                           lr=args.ppo_lr, ent_coef=args.ppo_ent_coef, gamma=args.gamma, reward_scale=args.reward_scale)
        result = run_ppo(env, config, run, title=title)
    result.pop("rows")
    if env.spec.discrete:
        result["kshot"].append(summarize(random_policy_returns(env, run_keys(args.seed)[2], args.final_eval_learners),
                                         "uniformly random policy", "sampled"))
    print_results(args.run_dir, title, result)
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
