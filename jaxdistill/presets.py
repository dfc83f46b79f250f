"""The sizes of each task's runs per preset (``cpu``: what a 2-core CPU runs; ``gpu``: one accelerator) and the
networks they train. They live in the library so that a command line (``experiments/``) and a benchmark
(``benchmarks/``) read the same numbers; each command line turns them into its typed flags."""

from __future__ import annotations

import dataclasses
from typing import Literal

from jaxdistill.distill.ppmo import PPMOConfig
from jaxdistill.nets.networks import (
    CRITIC_SPEC,
    MINATAR_CONVS,
    MINATAR_STUDENT,
    NATURE_CONVS,
    STUDENT_CNN,
    ConvSpec,
    ImpalaSpec,
    LearnerSpec,
)
from jaxdistill.rl.ppo import PPOConfig

Preset = Literal["cpu", "gpu"]

# --- MinAtar (images, in the graph) ----------------------------------------------------------------------

_MINATAR = PPMOConfig(meta_epochs=2000, num_learners=32, num_envs=16, num_steps=128, num_minibatches=8,
                      distiller_lr=1e-3, ent_coef=0.01)
MINATAR_PPMO: dict[str, PPMOConfig] = {
    # 32 learners x 16 envs x 128 steps = 65k env steps per meta-epoch.
    "gpu": _MINATAR,
    # A laptop CPU: 4 learners x 8 envs x 64 steps = 2048 env steps per meta-epoch.
    "cpu": dataclasses.replace(_MINATAR, meta_epochs=300, num_learners=4, num_envs=8, num_steps=64,
                               num_minibatches=4),
}


def minatar_learner(encoder_layers: int = 0, output_gain: float = 0.01) -> ConvSpec:
    return ConvSpec(convs=MINATAR_CONVS, dense=(256,), encoder_layers=encoder_layers, output_gain=output_gain)


def minatar_mlp(obs_shape: tuple[int, ...], width: int = 512, output_gain: float = 0.01) -> LearnerSpec:
    """HaDES' MinAtar student: two hidden ReLU layers of ``width`` (512; its "half_width" runs 256) on the
    flattened observation. Initialised as every learner here (orthogonal, gain sqrt(2), output gain 0.01), not
    as flax's default HaDES used."""
    return LearnerSpec(hidden_sizes=(width, width), activation="relu", output_gain=output_gain,
                       input_shape=tuple(obs_shape))


# --- Atari (EnvPool, on the host) ---------------------------------------------------------------------------

# 8 learners x 8 games x 128 steps = 8192 env steps per meta-epoch (CleanRL's PPO collects 8 x 128 per
# update); 1250 meta-epochs = 10 M env steps. Clip 0.1 is CleanRL's Atari setting.
_ATARI = PPMOConfig(meta_epochs=1250, num_learners=8, num_envs=8, num_steps=128, num_minibatches=4, clip_eps=0.1,
                    ent_coef=0.01)
ATARI_PPMO: dict[str, PPMOConfig] = {
    "gpu": _ATARI,
    # 2 learners x 2 games x 32 steps per meta-epoch.
    "cpu": dataclasses.replace(_ATARI, meta_epochs=20, num_learners=2, num_envs=2, num_steps=32, num_minibatches=2),
}


def nature_cnn(encoder_layers: int = 0, output_gain: float = 0.01) -> ConvSpec:
    return ConvSpec(encoder_layers=encoder_layers, channels_first=True, output_gain=output_gain)


# --- MuJoCo: EnvPool's MuJoCo-v4 on the host, Brax in the graph ---------------------------------------------

Route = Literal["brax", "envpool"]


def route_of(env_id: str) -> Route:
    return "envpool" if env_id.endswith("-v4") else "brax"


_NORM = {"normalize_obs": True, "normalize_reward": True}
# PPMO for continuous actions: many Adam steps per rollout (10 epochs of 32 minibatches, like CleanRL's PPO)
# on the dataset, and the learned log std moving at 1e-4 rather than the dataset's 1e-3 (at 1e-3 the std
# collapsed and runs stalled: Hopper-v4 stopped near 1600 at 3.3 M steps, 1874 at 0.6 M with this).
_PPMO = {"update_epochs": 10, "num_minibatches": 32, "distiller_lr": 1e-3, "log_std_lr": 1e-4, "critic_lr": 3e-4,
         **_NORM}
# On Brax, scaling rewards by the return's running std slowed PPMO several-fold: inverted_double_pendulum
# reached 1822 after 1.64 M steps without it against about 1100 with it (same preset otherwise), and the
# Brax presets leave rewards raw. EnvPool's MuJoCo-v4 tasks learned well with it (CleanRL's setting).
# Many learners per meta-epoch make the dataset work for more of the learner distribution: on
# inverted_double_pendulum 32 learners x 8 environments reached 6755.9 (1000 learners) after 4.92 M steps,
# against 5075.9 for 8 x 32 and 5120.4 for 8 x 32 with the advantages standardised over the minibatch.
# It needs that standardisation: per learner, each learner's share of a minibatch is 8 samples, and
# 32 x 8 then stalled at 1350 after 3.7 M steps.
_BRAX_PPMO = {**_PPMO, "normalize_reward": False, "advantage_norm": "minibatch"}
# CleanRL's ppo_continuous_action (MuJoCo-v4): 1 env x 2048 steps, 10 epochs of 32 minibatches, Adam 3e-4
# annealed, GAE 0.95, clip 0.2, value clipping, observation and reward normalisation.
_CLEANRL_PPO = PPOConfig(total_timesteps=1_000_000, num_envs=1, num_steps=2048, num_minibatches=32,
                         update_epochs=10, lr=3e-4, anneal_lr=True, ent_coef=0.0, **_NORM)

MUJOCO_PPMO: dict[tuple[Route, str], PPMOConfig] = {
    # EnvPool, CPU: 8 learners x 4 environments x 256 steps = 8192 env steps per meta-epoch.
    ("envpool", "cpu"): PPMOConfig(meta_epochs=500, num_learners=8, num_envs=4, num_steps=256, **_PPMO),
    ("envpool", "gpu"): PPMOConfig(meta_epochs=1000, num_learners=32, num_envs=8, num_steps=256, **_PPMO),
    # Brax, CPU: 32 learners x 8 environments x 32 steps = 8192 env steps per meta-epoch.
    ("brax", "cpu"): PPMOConfig(meta_epochs=1200, num_learners=32, num_envs=8, num_steps=32, **_BRAX_PPMO),
    # Brax, GPU: 64 learners x 128 environments x 32 steps = 262k env steps per meta-epoch.
    ("brax", "gpu"): PPMOConfig(meta_epochs=1000, num_learners=64, num_envs=128, num_steps=32, **_BRAX_PPMO),
}
MUJOCO_PPO: dict[tuple[Route, str], PPOConfig] = {
    ("envpool", "cpu"): _CLEANRL_PPO,
    ("envpool", "gpu"): _CLEANRL_PPO,
    # Brax-style PPO: many environments, short unrolls, 4 epochs, observation normalisation.
    ("brax", "cpu"): PPOConfig(total_timesteps=3_000_000, num_envs=256, num_steps=32, num_minibatches=8,
                               update_epochs=4, lr=3e-4, ent_coef=0.0, **_NORM),
    ("brax", "gpu"): PPOConfig(total_timesteps=50_000_000, num_envs=2048, num_steps=32, num_minibatches=32,
                               update_epochs=4, lr=3e-4, ent_coef=0.0, **_NORM),
}


# --- Offline distillation -----------------------------------------------------------------------------------

def offline_networks(obs_shape: tuple[int, ...], channels_first: bool, expert_net: str = "nature"):
    """``(student, expert actor, expert critic)`` specs for observations of this shape."""
    if len(obs_shape) != 3:
        return LearnerSpec(), LearnerSpec(), CRITIC_SPEC
    if min(obs_shape[1:] if channels_first else obs_shape[:2]) >= 32:  # Procgen-sized frames
        actor = (ImpalaSpec(channels_first=channels_first) if expert_net == "impala"
                 else ConvSpec(convs=NATURE_CONVS, dense=(256,), channels_first=channels_first))
        return STUDENT_CNN, actor, dataclasses.replace(actor, output_gain=1.0)
    student = dataclasses.replace(MINATAR_STUDENT, channels_first=channels_first)  # MinAtar-sized maps
    actor = ConvSpec(convs=MINATAR_CONVS, dense=(256,), channels_first=channels_first)
    return student, actor, dataclasses.replace(actor, output_gain=1.0)
