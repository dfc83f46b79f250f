import jax
import numpy as np
import pytest

from jaxdistill.envs import make
from jaxdistill.eval.episodes import play_episodes
from jaxdistill.nets.networks import mlp_apply
from jaxdistill.rl.ppo import PPOConfig, make_ppo
from jaxdistill.run.driver import make_train


def best_window_average(returns, counts, window=100):
    """Gym's 'solved' statistic: the best mean over `window` consecutive finished episodes."""
    sums = np.nan_to_num(returns) * counts
    best = -np.inf
    for end in range(len(counts)):
        c = s = 0.0
        i = end
        while i >= 0 and c < window:
            c, s, i = c + counts[i], s + sums[i], i - 1
        if c >= window:
            best = max(best, s / c)
    return best


@pytest.mark.optimized
@pytest.mark.timeout(300)
def test_ppo_solves_1d_cartpole_vmapped_over_seeds():
    config = PPOConfig(total_timesteps=500_000)
    env = make("CartPole1D-v1")
    agent = make_ppo(config, env.spec)
    train = jax.jit(jax.vmap(make_train(env, agent, config.num_updates)))
    state, metrics = train(jax.random.split(jax.random.PRNGKey(0), 2))
    for seed in range(2):
        ret, cnt = np.asarray(metrics["episode_return"][seed]), np.asarray(metrics["episodes"][seed])
        assert ret.shape == (config.num_updates,)
        assert best_window_average(ret, cnt) >= 475.0  # CartPole-v1's "solved" threshold
        assert np.nanmean(ret[:5]) < 100.0  # ...and it started from scratch
        actor = jax.tree_util.tree_map(lambda x: x[seed], state.agent.actor_params)
        greedy = play_episodes(env, jax.random.PRNGKey(5), mlp_apply, actor, 100, agent.dist, True)
        assert float(greedy.mean()) >= 475.0
