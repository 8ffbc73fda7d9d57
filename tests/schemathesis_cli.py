"""Runs the schemathesis 4 CLI against a live server, as tests/test_openapi_live.py and tests/stack do.

Every check and every phase (stateful too), bounded by max examples per operation and phase; the
only failures dropped are the documented data-dependent 400s (tests/schema_rules.py, through the
hooks in tests/schemathesis_live_hooks.py), each written to a log so the caller can show them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.schema_rules import DATA_DEPENDENT_400

BASE_DIR = Path(__file__).resolve().parents[1]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@dataclass
class CliRun:
    result: dict  # the JSON report
    excused: list[dict]  # {"operation", "reason"} of each dropped data-dependent 400
    output: str  # the tail of what the CLI printed
    returncode: int
    links_covered: int  # API links the stateful phase followed ("API Links: N covered / ..." in its summary)

    def assert_clean(self) -> None:
        """Every operation tested, the stateful phase run, no failure and no error, only documented 400s dropped."""
        result, output = self.result, self.output
        assert result["complete"] and result["operations"]["tested"] == result["operations"]["total"] > 20, output
        assert result["phases"]["stateful"]["status"] != "skip", output
        assert result["failures"] == [] and result["errors"] == [], output
        assert self.returncode == 0, output
        assert self.links_covered > 0, output  # the stateful phase followed links, not only single calls
        documented = {f"{method} {path}" for method, path in DATA_DEPENDENT_400}
        assert {item["operation"] for item in self.excused} <= documented
        assert result["filtered"] == len(self.excused)
        cases = result["test_cases"]["generated"]
        links = self.links_covered
        print(f"\n{cases} cases, {links} API links followed; excused data-dependent 400s:", len(self.excused))
        for item in {(i["operation"], i["reason"]) for i in self.excused}:
            print(" -", *item)


def run_schemathesis(
    base_url: str, token: str, workdir: Path, *, examples: str, stateful_examples: str, timeout: int = 600
) -> CliRun:
    """``examples`` per operation and phase; ``stateful_examples`` scenarios for the stateful phase,
    which needs more of them than a phase per operation does to follow links several steps deep."""
    assert SCHEMATHESIS.exists(), f"schemathesis CLI not found at {SCHEMATHESIS} (requirements/dev.txt)"
    report, dropped, config = workdir / "report.json", workdir / "dropped.jsonl", workdir / "schemathesis.toml"
    config.write_text(
        f"[generation]\nmax-examples = {int(examples)}\n\n"
        f"[phases.stateful.generation]\nmax-examples = {int(stateful_examples)}\n"
    )
    command = [
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base_url}/api/schema/",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--header", f"Authorization: Bearer {token}",
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    if os.environ.get("CI") == "true":
        command += ["--seed", "19"]  # CI replays one seed; local runs keep exploring
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_live_hooks",
        "SCHEMATHESIS_DROPPED_LOG": str(dropped),
        "PYTHONPATH": str(BASE_DIR),
    }
    # Its own working directory: the CLI keeps a .schemathesis/ cache there.
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(workdir))
    output = done.stdout[-6000:] + done.stderr[-2000:]
    assert report.exists(), output
    excused = [json.loads(line) for line in dropped.read_text().splitlines()] if dropped.exists() else []
    links = re.search(r"API Links:\s+(\d+) covered", done.stdout)
    return CliRun(json.loads(report.read_text()), excused, output, done.returncode, int(links.group(1)) if links else 0)
