"""The Dagster code location: one job and one schedule per client, generated from meltano.yml.

Each job runs `meltano --environment <env> run <job>` in the project, so a run is exactly
what an operator runs by hand: Meltano keeps each client's bookmark under its own state
id, and a retry resumes from the last one committed. One run per client at a time is kept
three ways: each schedule skips its tick while the client's last run is still going, the
instance's run queue admits one run per `reveni-khaos/client` tag (orchestration/dagster.yaml),
and Meltano itself refuses a second run of a state id already running (never `--force`).

The code location itself is `reveni_khaos_orchestration.location`.
"""

# No `from __future__ import annotations` here: Dagster reads an op's type hints at run
# time, and refuses `context` hinted with a string.
import os
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import dagster as dg

from reveni_khaos_orchestration.project import MeltanoJob, read_project

CLIENT_TAG = "reveni-khaos/client"
JOB_TAG = "reveni-khaos/meltano-job"
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
LAST_LINES = 40  # of Meltano's output, kept in a failed run's message


def default_meltano() -> str:
    """The `meltano` installed beside this Python (a virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else shutil.which("meltano") or "meltano"


class MeltanoProject(dg.ConfigurableResource["MeltanoProject"]):
    """The Meltano project the jobs run in, and the environment (dev or prod) they run."""

    project_dir: str
    environment: str = "prod"
    executable: str = ""  # empty: default_meltano()

    def run(self, job: str, log: Any) -> None:
        """`meltano --environment ENV run JOB`; its output to the Dagster log, a failure raised."""
        command = [self.executable or default_meltano(), "--environment", self.environment, "run", job]
        last: deque[str] = deque(maxlen=LAST_LINES)
        with subprocess.Popen(
            command,
            cwd=self.project_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                last.append(line.rstrip())
                _level(line, log)(line.rstrip())
            code = process.wait()
        if code != 0:
            raise dg.Failure(
                description=f"`meltano --environment {self.environment} run {job}` exited with {code}",
                metadata={"last lines of Meltano's output": dg.MetadataValue.text("\n".join(last))},
            )


def _level(line: str, log: Any) -> Any:
    """Meltano's own level for a line of its output (`[error    ]`), so Dagster shows it."""
    head = line[:60]
    if "[error" in head or "[critical" in head:
        return log.error
    if "[warning" in head:
        return log.warning
    return log.info


def dagster_name(meltano_name: str) -> str:
    """A Meltano name as Dagster allows names (letters, digits and `_`)."""
    return "".join(char if char.isalnum() else "_" for char in meltano_name)


def build_definitions(
    project_dir: str | Path,
    environment: str = "prod",
    retries: int = 3,
    retry_delay_seconds: float = 60,
    executable: str = "",
) -> dg.Definitions:
    """One Dagster job per Meltano job of the project, and one schedule per Meltano schedule."""
    jobs = read_project(project_dir)
    retry = dg.RetryPolicy(max_retries=retries, delay=retry_delay_seconds, backoff=dg.Backoff.EXPONENTIAL)
    job_defs = {job.name: _job(job, retry) for job in jobs}
    schedules = [_schedule(job, job_defs[job.name], cron, n) for job in jobs for n, cron in enumerate(job.crons, 1)]
    project = MeltanoProject(project_dir=str(project_dir), environment=environment, executable=executable)
    return dg.Definitions(jobs=list(job_defs.values()), schedules=schedules, resources={"meltano": project})


def _job(job: MeltanoJob, retry: dg.RetryPolicy) -> dg.JobDefinition:
    tags = {JOB_TAG: job.name, **({CLIENT_TAG: job.client} if job.client else {})}

    @dg.op(name=f"meltano_run_{dagster_name(job.name)}", retry_policy=retry, description=f"meltano run {job.name}")
    def run(context: dg.OpExecutionContext, meltano: MeltanoProject) -> None:
        meltano.run(job.name, context.log)

    @dg.job(
        name=dagster_name(job.name),
        tags=tags,
        description=(f"Client {job.client}: " if job.client else "") + f"runs `{' '.join(job.tasks)}` with Meltano",
    )
    def sync() -> None:
        run()

    return sync


def _schedule(job: MeltanoJob, job_def: dg.JobDefinition, cron: str, n: int) -> dg.ScheduleDefinition:
    name = dagster_name(job.name) + ("_schedule" if n == 1 else f"_schedule_{n}")

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job_def,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def tick(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        running = context.instance.get_runs(filters=dg.RunsFilter(job_name=job_def.name, statuses=ACTIVE), limit=1)
        if running:
            return dg.SkipReason(f"{job.name} is still running (run {running[0].run_id}): one run per client at a time")
        return dg.RunRequest()

    return tick
