"""Startup benchmark: how long ``import ai_core``, ``ai --help`` and ``ai plugins`` take.

Wall time of fresh interpreters, as ratios to ``python -c "import httpx2"`` and
``python -c "import httpx"`` measured in the same run (round-robin, so machine
noise hits every command alike); the median of many repetitions. Run it in the
environment whose plugins should count (the dev venv has them all)::

    .venv/bin/python benchmarks/bench_startup.py            # 25 rounds
    .venv/bin/python benchmarks/bench_startup.py -n 50 --json --check

Also checks that importing ai_core starts no thread and imports no HTTP library.
Targets (issue 2): ``ai --help`` within 1.5x of importing httpx, ``ai plugins``
within 3x. ``--check`` exits 1 when a target or a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HTTP_MODULES = ("httpx", "httpx2", "httpcore", "aiohttp", "requests", "urllib3", "http.client", "h11", "ssl")
TARGETS = {"ai --help": 1.5, "ai plugins": 3.0}


def commands(python: str, ai: str) -> dict[str, list[str]]:
    return {
        "python (bare)": [python, "-c", "pass"],
        "import httpx2": [python, "-c", "import httpx2"],
        "import httpx": [python, "-c", "import httpx"],
        "import ai_core": [python, "-c", "import ai_core"],
        "ai --help": [ai, "--help"],
        "ai plugins": [ai, "plugins"],
    }


def time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def import_checks(python: str, env: dict[str, str]) -> dict[str, object]:
    probe = (
        "import sys, threading, json\n"
        "import ai_core\n"
        f"http = [m for m in {HTTP_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'threads': threading.active_count(), 'http_modules': http,"
        " 'modules_loaded': len(sys.modules)}))\n"
    )
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--rounds", type=int, default=25)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the environment to measure")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target or check fails")
    args = parser.parse_args()

    ai = shutil.which("ai", path=str(Path(args.python).parent)) or "ai"
    env = {k: v for k, v in os.environ.items() if k not in ("AI_CORE_PLUGINS", "AI_PLUGINS", "PYTHONPROFILEIMPORTTIME")}
    cmds = commands(args.python, ai)
    for argv in cmds.values():  # warm the page cache, .pyc files and stevedore's entry-point cache
        time_once(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(args.rounds):
        for name, argv in cmds.items():
            samples[name].append(time_once(argv, env))
    median = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        name: {"vs_httpx": median[name] / median["import httpx"], "vs_httpx2": median[name] / median["import httpx2"]}
        for name in cmds
    }
    checks = import_checks(args.python, env)
    failures = [
        f"{name}: {ratios[name]['vs_httpx']:.2f}x import httpx > {limit}x"
        for name, limit in TARGETS.items()
        if ratios[name]["vs_httpx"] > limit
    ]
    if checks["threads"] != 1:
        failures.append(f"import ai_core started {checks['threads'] - 1} thread(s)")  # type: ignore[operator]
    if checks["http_modules"]:
        failures.append(f"import ai_core imported HTTP modules: {checks['http_modules']}")

    if args.json:
        print(json.dumps({"rounds": args.rounds, "median_s": median, "ratios": ratios, "import_checks": checks,
                          "failures": failures}, indent=2))  # fmt: skip
    else:
        print(f"{args.rounds} rounds, median wall time of a fresh process ({args.python})\n")
        print(f"{'command':<16} {'median ms':>10} {'vs httpx':>9} {'vs httpx2':>10}  target")
        for name in cmds:
            target = f"<= {TARGETS[name]}x httpx" if name in TARGETS else ""
            print(
                f"{name:<16} {median[name] * 1000:>10.1f} {ratios[name]['vs_httpx']:>8.2f}x"
                f" {ratios[name]['vs_httpx2']:>9.2f}x  {target}"
            )
        print(f"\nimport ai_core: {checks['threads']} thread(s), HTTP modules: {checks['http_modules'] or 'none'}")
        print("FAILED: " + "; ".join(failures) if failures else "all targets met")
    return 1 if (args.check and failures) else 0


if __name__ == "__main__":
    sys.exit(main())
