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
    as_options,
    cli,
    fail,
    fill_run,
    flag_value,
    print_results,
    problems,
    run_method,
)
from jaxdistill.presets import MUJOCO_PPMO, MUJOCO_PPO, Route, route_of
from jaxdistill.run.harness import RunOptions

# The paper's Table 3 (MuJoCo-v4): (PPO, full distillation with k = 64), mean over its evaluation.
TABLE3 = {"Ant-v4": (4919, 3485), "HalfCheetah-v4": (4486, 2526), "Hopper-v4": (2204, 1858),
          "Humanoid-v4": (1602, 543.3), "HumanoidStandup-v4": (212_265, 139_717),
          "InvertedDoublePendulum-v4": (8781, 1365), "Reacher-v4": (-5.23, -8.00), "Walker2d-v4": (4299, 200.8)}
# HaDES-R (Tang et al.), 64 (state, action) pairs on Brax, a fresh initialisation each rollout.
HADES_64 = {"ant": 267, "halfcheetah": 3318, "hopper": 1787, "humanoid": 1715, "humanoidstandup": 223_378,
            "inverted_double_pendulum": 7715, "reacher": -162, "walker2d": 2438}



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


def _preset(route: Route, preset: str, run: RunOptions) -> Args:
    return Args(ppmo=as_options(PPMOOptions, MUJOCO_PPMO[(route, preset)]),
                ppo=as_options(PPOOptions, MUJOCO_PPO[(route, preset)]), run=run)


_RUN = RunOptions(eval_every=25, eval_learners=100, final_policies=("greedy", "sampled"))
PRESETS: dict[tuple[Route, str], Args] = {  # the sizes: jaxdistill.presets
    (route, preset): _preset(route, preset, dataclasses.replace(_RUN, eval_learners=64) if preset == "cpu" else _RUN)
    for route in ("envpool", "brax") for preset in ("cpu", "gpu")}
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
