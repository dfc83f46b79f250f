"""Continuous control: distil a MuJoCo robot into k = 64 (state, mean action) pairs and a learned std with
PPMO (the paper's Section 6), or train Gaussian PPO on it (the baseline), by either route:

    python -m experiments.mujoco --env Hopper-v4                  # EnvPool MuJoCo-v4 on the host (the paper's tasks)
    python -m experiments.mujoco --env hopper                     # Brax in the graph (positional backend)
    python -m experiments.mujoco --env hopper --backend generalized
    python -m experiments.mujoco --env Hopper-v4 --method ppo     # CleanRL's ppo_continuous_action settings
    python -m experiments.mujoco --env hopper --preset gpu        # GPU-sized (more learners and environments)
    python -m experiments.mujoco --env Hopper-v4 --resume         # continue a killed run

Learners are the paper's Λ (2x64 tanh, orthogonal) regressing the dataset's mean targets in one SGD
step; their policy is N(f(s), exp(log_std)) with the dataset's learned log_std, and they see
observations normalised by the statistics frozen into the dataset file. Every run writes into
``--run-dir`` (default ``runs/mujoco_<env>_k64_ppmo_s<seed>``): ``dataset/``, ``metrics.csv``,
``tensorboard/``, ``checkpoints/``, ``learning_curve.png``, ``dataset.png`` (Y and exp(log_std) per
action dimension, X on its principal axes) and ``results.{json,md}`` with the k-shot table over fresh
learners (mean action and sampled) beside the published figures for the same route.
Defaults come from the preset of the route (``--env``'s) and ``--preset``; flags given beside them win.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from experiments.common import (
    METHOD_NAMES,
    ESOptions,
    Flat,
    PPMOOptions,
    PPOOptions,
    cli,
    fail,
    fill_run,
    flag_value,
    print_results,
    problems,
    run_method,
)
from jaxdistill.run.harness import RunOptions

# The paper's Table 3 (MuJoCo-v4): (PPO, full distillation with k = 64), mean over its evaluation.
TABLE3 = {"Ant-v4": (4919, 3485), "HalfCheetah-v4": (4486, 2526), "Hopper-v4": (2204, 1858),
          "Humanoid-v4": (1602, 543.3), "HumanoidStandup-v4": (212_265, 139_717),
          "InvertedDoublePendulum-v4": (8781, 1365), "Reacher-v4": (-5.23, -8.00), "Walker2d-v4": (4299, 200.8)}
# HaDES-R (Tang et al.), 64 (state, action) pairs on Brax, a fresh initialisation each rollout.
HADES_64 = {"ant": 267, "halfcheetah": 3318, "hopper": 1787, "humanoid": 1715, "humanoidstandup": 223_378,
            "inverted_double_pendulum": 7715, "reacher": -162, "walker2d": 2438}

Route = Literal["brax", "envpool"]


@dataclasses.dataclass
class Args:
    env: str = "hopper"
    """A Brax robot (``hopper``, ``inverted_double_pendulum``, ...; in the graph) or a MuJoCo-v4 task
    (``Hopper-v4``, ...; EnvPool on the host)."""
    backend: str | None = None
    """Brax backend (positional, generalized, spring, mjx); default positional, HaDES' backend and the
    fastest for hopper on a CPU here. Only for Brax robots."""
    method: Literal["ppmo", "ppo", "es"] = "ppmo"
    """ppmo distils a dataset; es distils one with evolution strategies (HaDES; Brax robots only, in the graph);
    ppo trains a Gaussian policy directly (the baseline)."""
    preset: Literal["cpu", "gpu"] = "cpu"
    """Sizes of the run (see PRESETS); flags given beside it still win."""
    ppmo: Annotated[PPMOOptions, Flat] = PPMOOptions()
    """PPMO (k defaults to 64 for continuous actions)."""
    ppo: PPOOptions = PPOOptions()
    """PPO, for --method ppo."""
    es: ESOptions = ESOptions()
    """Evolution strategies, for --method es (Brax robots)."""
    run: Annotated[RunOptions, Flat] = RunOptions()
    """Seed, run directory, evaluation, checkpoints."""


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
_RUN = RunOptions(eval_every=25, eval_learners=100, final_policies=("greedy", "sampled"))

PRESETS: dict[tuple[Route, str], Args] = {
    # EnvPool, CPU: 8 learners x 4 environments x 256 steps = 8192 env steps per meta-epoch.
    ("envpool", "cpu"): Args(
        ppmo=PPMOOptions(meta_epochs=500, num_learners=8, num_envs=4, num_steps=256, **_PPMO),
        # CleanRL's ppo_continuous_action (MuJoCo-v4): 1 env x 2048 steps, 10 epochs of 32 minibatches,
        # Adam 3e-4 annealed, GAE 0.95, clip 0.2, value clipping, observation and reward normalisation.
        ppo=PPOOptions(total_timesteps=1_000_000, num_envs=1, num_steps=2048, num_minibatches=32, update_epochs=10,
                       lr=3e-4, anneal_lr=True, ent_coef=0.0, **_NORM),
        run=dataclasses.replace(_RUN, eval_learners=64)),
    ("envpool", "gpu"): Args(
        ppmo=PPMOOptions(meta_epochs=1000, num_learners=32, num_envs=8, num_steps=256, **_PPMO),
        ppo=PPOOptions(total_timesteps=1_000_000, num_envs=1, num_steps=2048, num_minibatches=32, update_epochs=10,
                       lr=3e-4, anneal_lr=True, ent_coef=0.0, **_NORM),
        run=_RUN),
    # Brax, CPU: 32 learners x 8 environments x 32 steps = 8192 env steps per meta-epoch.
    ("brax", "cpu"): Args(
        ppmo=PPMOOptions(meta_epochs=1200, num_learners=32, num_envs=8, num_steps=32, **_BRAX_PPMO),
        # Brax-style PPO: many environments, short unrolls, 4 epochs, observation normalisation.
        ppo=PPOOptions(total_timesteps=3_000_000, num_envs=256, num_steps=32, num_minibatches=8, update_epochs=4,
                       lr=3e-4, ent_coef=0.0, **_NORM),
        run=dataclasses.replace(_RUN, eval_learners=64)),
    # Brax, GPU: 64 learners x 128 environments x 32 steps = 262k env steps per meta-epoch.
    ("brax", "gpu"): Args(
        ppmo=PPMOOptions(meta_epochs=1000, num_learners=64, num_envs=128, num_steps=32, **_BRAX_PPMO),
        ppo=PPOOptions(total_timesteps=50_000_000, num_envs=2048, num_steps=32, num_minibatches=32, update_epochs=4,
                       lr=3e-4, ent_coef=0.0, **_NORM),
        run=_RUN),
}
"""Defaults per (route, --preset)."""


def defaults(argv: list[str]) -> Args:
    """The preset for the command line's ``--env`` and ``--preset`` (flags given beside them still win)."""
    env = flag_value(argv, "env") or Args.env
    preset = flag_value(argv, "preset") or Args.preset
    base = PRESETS.get((route_of(env), preset), PRESETS[(route_of(env), "cpu")])
    return dataclasses.replace(base, env=env, preset=preset if preset in ("cpu", "gpu") else "cpu")


def validate(args: Args):
    from jaxdistill.envs import make

    prog = "experiments.mujoco"
    if args.backend is not None and route_of(args.env) == "envpool":
        fail(prog, [f"--backend is for Brax robots; {args.env} is an EnvPool MuJoCo-v4 task"])
    env_id = args.env if args.backend is None else f"{args.env}:{args.backend}"
    try:
        env = make(env_id)
    except (ValueError, ImportError) as e:
        raise SystemExit(f"{prog}: error: {e}") from None
    if env.spec.discrete:
        fail(prog, [f"{args.env} has discrete actions; use experiments.gymnax or experiments.atari"])
    if args.method == "es" and route_of(args.env) == "envpool":
        fail(prog, [f"--method es runs in the graph (Brax robots); {args.env} steps EnvPool on the host"])
    fail(prog, problems(args.ppmo) + problems(args.ppo, "ppo.") + problems(args.es, "es.") + problems(args.run))
    return fill_run(args, env.spec, prog, "mujoco_" + env_id.replace(":", "_").lower()), env


def reference(env_id: str) -> dict:
    """The published figures for this task and route."""
    name = env_id.split(":")[0]
    if name in TABLE3:
        ppo, distilled = TABLE3[name]
        return {"source": "the paper's Table 3 (MuJoCo-v4)", "ppo": ppo, "full_distillation": distilled}
    if name in HADES_64:
        return {"source": "HaDES-R, 64 pairs on Brax (fresh init each rollout)", "hades_64": HADES_64[name]}
    return {}


def main(args: Args) -> dict:
    args, env = validate(args)
    route = "Brax, in the graph" if route_of(args.env) == "brax" else "EnvPool MuJoCo-v4, on the host"
    title = f"{METHOD_NAMES[args.method]}, {env.spec.env_id} ({route})"
    result = run_method(args, env, args.ppmo, args.ppo, "Λ (2x64 tanh, orthogonal)", title,
                        gpu_sized=args.preset == "gpu")
    result.update(route=route, preset=args.preset, reference=reference(env.spec.env_id))
    ref = result["reference"]
    intro = (f"Route: {route}. Published: {ref['source']}: "
             + ", ".join(f"{k} {v:,}" for k, v in ref.items() if k != "source") + ".\n\n") if ref else ""
    print_results(args.run.run_dir, title, result, intro)
    return result


def parse(argv: list[str] | None = None) -> Args:
    """The command line (``sys.argv[1:]`` by default) as :class:`Args`, defaults from the route's preset."""
    return cli(Args, defaults, "env", argv)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli("experiments.mujoco", main, parse)
