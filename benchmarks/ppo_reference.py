"""Is our PPO a baseline the field would accept? 8 vmapped seeds of it beside a PureJaxRL-style reference.

    python -m benchmarks.ppo_reference                    # CartPole-v1, 500 k steps, 8 seeds each
    python -m benchmarks.ppo_reference --seeds 2 --total-timesteps 100000

Both train on gymnax's CartPole-v1 with the same sizes (4 envs x 128 steps, 4 minibatches, 4 epochs,
Adam 2.5e-4, gamma 0.99, GAE 0.95, clip 0.2, entropy 0.01, 2x64 tanh actor and critic). The reference
is written here in PureJaxRL's style (one flax actor-critic, clipped value loss, linear learning-rate
annealing, gymnax's LogWrapper); it is our own code, not a copy.

Training-episode returns are counted two ways, for every variant:

* ``episode``: the mean return of the episodes that *finished* during an update (each episode counts
  once: our training logs);
* ``step``: the mean over every step and environment of the return of the most recently finished
  episode (gymnax's ``LogWrapper.returned_episode_returns``, what PureJaxRL plots): a 500-step episode
  is counted 500 times, a 20-step failure 20 times, so this weighs the long episodes up.

Both are averaged over the last ``--last`` updates. The greedy return of each final actor over 100
episodes is reported too. Output: ``benchmarks/results/ppo_reference.{json,png}``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import tyro


@dataclasses.dataclass
class Args:
    seeds: int = 8
    """Seeds per variant (vmapped in one program)."""
    total_timesteps: int = 500_000
    """Environment steps per seed."""
    last: int = 50
    """Updates at the end of training that the summary averages over."""
    out: Path = Path("benchmarks/results/ppo_reference.json")
    """Where the JSON record goes (the plot goes beside it)."""


NUM_ENVS, NUM_STEPS, NUM_MINIBATCHES, UPDATE_EPOCHS = 4, 128, 4, 4


def make_reference_train(total_timesteps: int):
    """``train(key) -> per-update metrics``: PureJaxRL-style PPO on gymnax CartPole-v1 (our own code)."""
    import flax.linen as nn
    import gymnax
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from gymnax.wrappers.purerl import LogWrapper

    env, env_params = gymnax.make("CartPole-v1")
    env = LogWrapper(env)
    num_actions = env.action_space(env_params).n
    num_updates = total_timesteps // (NUM_ENVS * NUM_STEPS)
    orth = nn.initializers.orthogonal

    class ActorCritic(nn.Module):
        @nn.compact
        def __call__(self, x):
            a = x
            for _ in range(2):
                a = nn.tanh(nn.Dense(64, kernel_init=orth(np.sqrt(2)), bias_init=nn.initializers.zeros)(a))
            logits = nn.Dense(num_actions, kernel_init=orth(0.01), bias_init=nn.initializers.zeros)(a)
            v = x
            for _ in range(2):
                v = nn.tanh(nn.Dense(64, kernel_init=orth(np.sqrt(2)), bias_init=nn.initializers.zeros)(v))
            value = nn.Dense(1, kernel_init=orth(1.0), bias_init=nn.initializers.zeros)(v)
            return logits, value[..., 0]

    net = ActorCritic()

    def schedule(count):
        return 2.5e-4 * (1.0 - (count // (NUM_MINIBATCHES * UPDATE_EPOCHS)) / num_updates)

    tx = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(schedule, eps=1e-5))

    def train(key):
        key, k_net, k_env = jax.random.split(key, 3)
        params = net.init(k_net, jnp.zeros(env.observation_space(env_params).shape))
        opt_state = tx.init(params)
        obs, env_state = jax.vmap(env.reset, (0, None))(jax.random.split(k_env, NUM_ENVS), env_params)

        def update(carry, _):
            params, opt_state, env_state, obs, key = carry

            def step(c, _):
                env_state, obs, key = c
                key, k_act, k_step = jax.random.split(key, 3)
                logits, value = net.apply(params, obs)
                action = jax.random.categorical(k_act, logits)
                log_prob = jax.nn.log_softmax(logits)[jnp.arange(NUM_ENVS), action]
                next_obs, env_state, reward, term, trunc, info = jax.vmap(env.step, (0, 0, 0, None))(
                    jax.random.split(k_step, NUM_ENVS), env_state, action, env_params)
                done = jnp.logical_or(term, trunc)
                out = (obs, action, log_prob, value, reward, done, info["returned_episode_returns"],
                       jnp.where(done, info["returned_episode_returns"], 0.0))
                return (env_state, next_obs, key), out

            (env_state, obs, key), traj = jax.lax.scan(step, (env_state, obs, key), None, NUM_STEPS)
            t_obs, t_action, t_logp, t_value, t_reward, t_done, t_returned, t_finished = traj
            _, last_value = net.apply(params, obs)

            def gae_step(carry, x):
                gae, next_value = carry
                reward, value, done = x
                delta = reward + 0.99 * next_value * (1 - done) - value
                gae = delta + 0.99 * 0.95 * (1 - done) * gae
                return (gae, value), gae

            _, adv = jax.lax.scan(gae_step, (jnp.zeros(NUM_ENVS), last_value), (t_reward, t_value, t_done),
                                  reverse=True)
            targets = adv + t_value
            batch = jax.tree_util.tree_map(lambda x: x.reshape((-1, *x.shape[2:])),
                                           (t_obs, t_action, t_logp, t_value, adv, targets))

            def epoch(c, key):
                perm = jax.random.permutation(key, NUM_ENVS * NUM_STEPS)
                mbs = jax.tree_util.tree_map(lambda x: x[perm].reshape((NUM_MINIBATCHES, -1, *x.shape[1:])), batch)

                def minibatch(c, mb):
                    params, opt_state = c
                    obs, action, old_logp, old_value, adv, targets = mb

                    def loss_fn(params):
                        logits, value = net.apply(params, obs)
                        log_p = jax.nn.log_softmax(logits)
                        logp = log_p[jnp.arange(obs.shape[0]), action]
                        v_clipped = old_value + jnp.clip(value - old_value, -0.2, 0.2)
                        v_loss = 0.5 * jnp.maximum((value - targets) ** 2, (v_clipped - targets) ** 2).mean()
                        ratio = jnp.exp(logp - old_logp)
                        a = (adv - adv.mean()) / (adv.std() + 1e-8)
                        pg = -jnp.minimum(ratio * a, jnp.clip(ratio, 0.8, 1.2) * a).mean()
                        entropy = -(jnp.exp(log_p) * log_p).sum(-1).mean()
                        return pg + 0.5 * v_loss - 0.01 * entropy

                    grads = jax.grad(loss_fn)(params)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), None

                return jax.lax.scan(minibatch, c, mbs)[0], None

            key, k_epochs = jax.random.split(key)
            (params, opt_state), _ = jax.lax.scan(epoch, (params, opt_state), jax.random.split(k_epochs, UPDATE_EPOCHS))
            finished = t_done.sum()
            metrics = {"step": t_returned.mean(),
                       "episode": jnp.where(finished > 0, t_finished.sum() / jnp.maximum(finished, 1), jnp.nan)}
            return (params, opt_state, env_state, obs, key), metrics

        (params, *_), metrics = jax.lax.scan(update, (params, opt_state, env_state, obs, key), None, num_updates)
        return params, metrics

    def greedy_returns(params, key, episodes: int = 100):
        inner, inner_params = gymnax.make("CartPole-v1")
        obs, state = jax.vmap(inner.reset, (0, None))(jax.random.split(key, episodes), inner_params)

        def step(c, key):
            obs, state, total, alive = c
            action = jnp.argmax(net.apply(params, obs)[0], -1)
            obs, state, reward, term, trunc, _ = jax.vmap(inner.step, (0, 0, 0, None))(
                jax.random.split(key, episodes), state, action, inner_params)
            return (obs, state, total + reward * alive, alive * (1 - jnp.logical_or(term, trunc))), None

        init = (obs, state, jnp.zeros(episodes), jnp.ones(episodes))
        return jax.lax.scan(step, init, jax.random.split(key, 500))[0][2]

    return train, greedy_returns


def ours_with_step_weighted_returns(total_timesteps: int, anneal_lr: bool, clip_value_loss: bool):
    """Our PPO (``jaxdistill.rl.ppo``) through our driver; its metrics carry both return counts."""

    from jaxdistill.envs import make
    from jaxdistill.eval.episodes import play_episodes
    from jaxdistill.nets.networks import mlp_apply
    from jaxdistill.rl.ppo import PPOConfig, make_ppo
    from jaxdistill.run.driver import make_train

    env = make("CartPole-v1")
    config = PPOConfig(total_timesteps=total_timesteps, num_envs=NUM_ENVS, num_steps=NUM_STEPS,
                       num_minibatches=NUM_MINIBATCHES, update_epochs=UPDATE_EPOCHS, anneal_lr=anneal_lr,
                       clip_value_loss=clip_value_loss)
    agent = make_ppo(config, env.spec)
    train = make_train(env, agent, config.num_updates)

    def run(key):
        state, metrics = train(key)
        return state, {"episode": metrics["episode_return"], "step": metrics["step_weighted_return"]}

    def greedy_returns(state, key, episodes: int = 100):
        return play_episodes(env, key, mlp_apply, state.agent.actor_params, episodes, agent.dist, True)

    return run, greedy_returns


def summarize(name: str, metrics: dict, greedy, last: int, seconds: float) -> dict:
    import numpy as np

    out = {"variant": name, "seconds": round(seconds, 1)}
    for how in ("episode", "step"):
        per_seed = np.nanmean(np.asarray(metrics[how])[:, -last:], axis=1)
        out[f"last_{last}_updates_{how}_weighted"] = {"mean": float(per_seed.mean()),
                                                      "per_seed": [round(float(v), 1) for v in per_seed]}
    g = np.asarray(greedy).mean(axis=1)
    out["greedy_final_actor_100_episodes"] = {"mean": float(g.mean()), "per_seed": [round(float(v), 1) for v in g]}
    return out


def main(args: Args) -> dict:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from benchmarks.machine import describe_machine, write_record

    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    eval_keys = jax.random.split(jax.random.PRNGKey(1), args.seeds)
    record = {"machine": describe_machine(), "env": "gymnax CartPole-v1", "total_timesteps": args.total_timesteps,
              "sizes": {"num_envs": NUM_ENVS, "num_steps": NUM_STEPS, "num_minibatches": NUM_MINIBATCHES,
                        "update_epochs": UPDATE_EPOCHS}, "variants": []}
    curves = {}
    variants = {
        "ours, the paper's setting (no value clipping, constant lr)": ours_with_step_weighted_returns(
            args.total_timesteps, False, False),
        "ours, paper + anneal_lr": ours_with_step_weighted_returns(args.total_timesteps, True, False),
        "ours, the default (clip_value_loss, constant lr)": ours_with_step_weighted_returns(
            args.total_timesteps, False, True),
        "ours, clip_value_loss + anneal_lr": ours_with_step_weighted_returns(args.total_timesteps, True, True),
        "PureJaxRL-style reference (annealed lr, clipped value loss)": make_reference_train(args.total_timesteps),
    }
    for name, (train, greedy) in variants.items():
        t0 = time.perf_counter()
        finals, metrics = jax.block_until_ready(jax.jit(jax.vmap(train))(keys))
        seconds = time.perf_counter() - t0
        returns = jax.jit(jax.vmap(greedy))(finals, eval_keys)
        row = summarize(name, metrics, returns, args.last, seconds)
        record["variants"].append(row)
        curves[name] = {how: np.nanmean(np.asarray(metrics[how]), axis=0) for how in ("episode", "step")}
        print(row, flush=True)
    write_record(args.out, record)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, how in zip(axes, ("episode", "step")):
        for name, c in curves.items():
            xs = np.arange(1, len(c[how]) + 1) * NUM_ENVS * NUM_STEPS
            ax.plot(xs, c[how], label=name)
        ax.set_title(f"training return, {how}-weighted (mean of {args.seeds} seeds)")
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("return")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=110)
    plt.close(fig)
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
