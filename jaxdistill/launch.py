"""Start N local processes of any study as one JAX process group (for tests and single-machine use).

    python -m jaxdistill.launch --processes 2 --cpu-devices 2 -- python -m experiments.kmin_sweep --dims 1 2
    python -m jaxdistill.launch --processes 2 -- python -m experiments.kshot_table --dims 2 --learners 1000

Every process gets the coordinator's address, the process count and its id in its environment
(``jaxdistill.core.distributed``). The study joins through ``distributed.setup()``, so the command needs no
flag. With ``--cpu-devices D``, each process simulates D CPU devices, and the global mesh has N x D devices.

Each output line is prefixed with ``[p<i>]``. The launcher ends with the first non-zero exit status among the
processes, or 0 when all succeed. If a process fails, the others normally stop by themselves: see
``jaxdistill.core.distributed`` for how. A process still running ``--grace`` seconds later is killed, and the
launcher says so. SIGINT and SIGTERM are passed to every process (a study stops them all after the chunk it is
in); the processes get the same ``--grace`` seconds, and the launcher then exits with ``128 + signal`` and names
how each process ended. A command that cannot be started ends the launcher with 127 (126: not executable).

On a cluster, the scheduler starts the processes instead: run each with ``--distributed`` (the README's
"Devices and several processes" section has SLURM and TPU-pod recipes). On one machine with several GPUs,
one process already drives them all; the launcher is for CPU processes and tests.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from jaxdistill.core.distributed import (
    ENV_HEARTBEAT_TIMEOUT,
    ENV_JOIN_TIMEOUT,
    ENV_NUM_PROCESSES,
    ENV_PROCESS_ID,
    JAX_COORDINATOR_ADDRESS,
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_cpu_devices(env: dict[str, str], devices: int) -> dict[str, str]:
    """``env`` with ``devices`` simulated CPU devices: the device count replaces any earlier one, every other XLA
    flag is kept (a test suite's or a user's)."""
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    return dict(env, XLA_FLAGS=" ".join([*flags, f"--xla_force_host_platform_device_count={devices}"]),
                JAX_PLATFORMS="cpu")


def process_env(process_id: int, processes: int, port: int, cpu_devices: int | None = None,
                join_timeout_s: int | None = None, heartbeat_timeout_s: int | None = None,
                base: dict | None = None) -> dict[str, str]:
    """The environment of process ``process_id`` of a local group whose coordinator listens on ``port``."""
    env = dict(os.environ if base is None else base)
    env.update({JAX_COORDINATOR_ADDRESS: f"127.0.0.1:{port}", ENV_NUM_PROCESSES: str(processes),
                ENV_PROCESS_ID: str(process_id), "PYTHONUNBUFFERED": "1"})
    if cpu_devices is not None:
        env = with_cpu_devices(env, cpu_devices)
    if join_timeout_s is not None:
        env[ENV_JOIN_TIMEOUT] = str(join_timeout_s)
    if heartbeat_timeout_s is not None:
        env[ENV_HEARTBEAT_TIMEOUT] = str(heartbeat_timeout_s)
    return env


def _relay(stream, tag: str, out, lock: threading.Lock) -> None:
    for line in iter(stream.readline, ""):
        with lock:  # whole lines: the processes' outputs do not interleave mid-line
            out.write(f"{tag} {line}")
            out.flush()
    stream.close()


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def launch(command: list[str], processes: int, cpu_devices: int | None = None, grace_s: float = 60.0,
           join_timeout_s: int | None = None, heartbeat_timeout_s: int | None = None, out=None) -> int:
    """Run ``command`` as ``processes`` processes of one group; returns the launcher's exit status."""
    out = out or sys.stdout
    port = free_port()
    lock = threading.Lock()

    def say(message: str) -> None:
        with lock:
            out.write(f"[launch] {message}\n")
            out.flush()

    children, relays = [], []

    def stop_all(how: str) -> None:
        for i, child in enumerate(children):
            if child.poll() is None:
                say(f"process {i} {how}: killing it")
                child.kill()

    for i in range(processes):
        try:
            child = subprocess.Popen(command, env=process_env(i, processes, port, cpu_devices, join_timeout_s,
                                                              heartbeat_timeout_s),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        except OSError as e:  # no such program, not executable: nothing of the group can run
            say(f"error: cannot start {command[0]!r}: {e.strerror or e}")
            stop_all("was started before the failure")
            for child in children:
                child.wait()
            return 127 if isinstance(e, FileNotFoundError) else 126
        children.append(child)
        say(f"process {i} of {processes}: pid {child.pid}")
        relay = threading.Thread(target=_relay, args=(child.stdout, f"[p{i}]", out, lock), daemon=True)
        relay.start()
        relays.append(relay)

    signalled: list[int] = []  # the stop signals received, in order

    def forward(signum, _frame):  # Ctrl-C or a scheduler's SIGTERM reaches every process
        signalled.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    status, deadline, why = 0, None, ""  # after a failure or a stop signal, the others get grace_s to stop
    exits: dict[int, int] = {}
    killed: list[int] = []
    try:
        while True:
            if signalled and why != "after the stop signal":
                deadline, why = time.monotonic() + grace_s, "after the stop signal"
                say(f"{signal.Signals(signalled[0]).name} received: passed to every process; waiting up to "
                    f"{grace_s:.0f} s for them to stop")
            for i, child in enumerate(children):
                code = child.poll()
                if code is not None and i not in exits:
                    exits[i] = code
                    say(f"process {i} exited with {describe_exit(code)}")
                    if code != 0 and deadline is None:
                        status, deadline, why = (code if code > 0 else 128 - code), time.monotonic() + grace_s, \
                            "after the failure"
                        say(f"process {i} failed; waiting up to {grace_s:.0f} s for the others to stop")
            if len(exits) == len(children):
                break
            if deadline is not None and time.monotonic() > deadline:
                for i, child in enumerate(children):
                    if child.poll() is None:
                        say(f"process {i} still runs {grace_s:.0f} s {why}: killing it")
                        child.kill()
                        killed.append(i)
                deadline = float("inf")  # kill once; the loop reports the exits
            time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for relay in relays:
            relay.join(timeout=5)
    if signalled:  # stopped on request: never "succeeded", whatever the processes' own statuses
        status = 128 + signalled[0]
        how = ", ".join(f"process {i} {'killed' if i in killed else describe_exit(code)}" for i, code in
                        sorted(exits.items()))
        say(f"stopped by {signal.Signals(signalled[0]).name}: {how} (exit status {status})")
        return status
    say("all processes succeeded" if status == 0 else f"failed (exit status {status})")
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        raise SystemExit("usage: python -m jaxdistill.launch --processes N [--cpu-devices D] -- COMMAND ...")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m jaxdistill.launch", description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, required=True, help="Processes to start (the group's size).")
    parser.add_argument("--cpu-devices", type=int, default=None,
                        help="Simulated CPU devices per process (sets XLA_FLAGS and JAX_PLATFORMS=cpu); "
                             "default: each process's real devices.")
    parser.add_argument("--grace", type=float, default=60.0,
                        help="Seconds the other processes get to stop by themselves after one fails; then "
                             "they are killed.")
    parser.add_argument("--join-timeout", type=int, default=None,
                        help="Seconds a process waits for the whole group to join (default 120).")
    parser.add_argument("--heartbeat-timeout", type=int, default=None,
                        help="Seconds of missed heartbeats after which a process counts as dead (default 30).")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("no command after --")
    if args.processes < 1 or (args.cpu_devices is not None and args.cpu_devices < 1):
        parser.error("--processes and --cpu-devices must be >= 1")
    if not 0 <= args.grace < float("inf"):
        parser.error(f"--grace must be a finite number of seconds >= 0 (got {args.grace})")
    return launch(command, args.processes, args.cpu_devices, args.grace, args.join_timeout, args.heartbeat_timeout)


if __name__ == "__main__":
    sys.exit(main())
