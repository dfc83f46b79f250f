"""Record real states of a policy's rollout, to start a distillation's X from (``--x-init-states``).

    python -m experiments.record_states --env CartPole2D-v1 --out runs/states/cartpole2d_random.npy
    python -m experiments.record_states --env CartPole3D-v1 --policy runs/cartpole3d_ppo_s0 --out states.npy

The policy is a saved PPO actor (``<run-dir>/policy``, sampled actions) or, without ``--policy``, uniformly
random actions. Writes a float32 ``.npy`` of shape (num_envs x num_steps, *obs_shape).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tyro


@dataclasses.dataclass
class Args:
    env: str
    """Environment id (any in-graph environment: cart-pole, gymnax, MinAtar, Brax)."""
    out: Path
    """The .npy file to write."""
    policy: Path | None = None
    """A PPO run directory (or its policy/); None: uniformly random actions."""
    num_envs: int = 16
    """Parallel environments (auto-resetting)."""
    num_steps: int = 256
    """Steps per environment."""
    seed: int = 0
    """Seed of the resets, the environments and the sampled actions."""


def main(args: Args):
    import jax

    from jaxdistill.distill.real_states import record_states, save_states
    from jaxdistill.envs import make
    from jaxdistill.rl.policy_file import PolicyFileError, load_policy

    if args.num_envs < 1 or args.num_steps < 1:
        raise SystemExit("experiments.record_states: error: --num-envs and --num-steps must be >= 1")
    if args.out.is_dir():
        raise SystemExit(f"experiments.record_states: error: --out {args.out} is a directory; name the .npy file")
    from jaxdistill.core.loop import RunDirError, check_writable

    try:  # before anything is recorded
        check_writable(args.out.absolute().parent, "the directory of --out")
    except RunDirError as e:
        raise SystemExit(f"experiments.record_states: error: {e}") from None
    try:
        env = make(args.env)
    except (ValueError, ImportError) as e:
        raise SystemExit(f"experiments.record_states: error: {e}") from None
    policy = params = dist = None
    if args.policy is not None:
        try:
            saved = load_policy(args.policy, env.spec)
        except PolicyFileError as e:
            raise SystemExit(f"experiments.record_states: error: {e}") from None
        policy, params, dist = saved.policy, saved.params, saved.dist
    record = jax.jit(lambda key, params: record_states(env, key, args.num_envs, args.num_steps, policy, params, dist))
    states = record(jax.random.PRNGKey(args.seed), params if params is not None else ())
    path = save_states(args.out, states)
    print(f"{states.shape[0]} states of {env.spec.env_id} ({'random actions' if policy is None else args.policy}) "
          f"written to {path}")
    return path


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli("experiments.record_states", main, lambda argv: tyro.cli(Args, args=argv))
