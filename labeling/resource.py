"""Dagster resources of the annotation stage: where Label Studio is, and the annotation policy.

`LabelStudioResource.from_env()` takes the URL and token from `LABEL_STUDIO_URL` /
`LABEL_STUDIO_API_KEY` through `dg.EnvVar` (the token's value never enters Dagster's config
snapshot) when they are set; left empty, the resource talks to the managed local server
(`footprint labelstudio up`) and reads its token file under `$FOOTPRINT_HOME/labelstudio/`.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from labeling.client import LabelStudioClient, LabelStudioError
from labeling.server import SERVICE_NAME, ServerPaths, read_token, status
from warehouse.home import FootprintHome

ENV_URL = "LABEL_STUDIO_URL"
ENV_SIMULATE = "FOOTPRINT_SIMULATE_ANNOTATORS"  # "1": demo annotators (a SIMULATION) label tasks first
ENV_API_KEY = "LABEL_STUDIO_API_KEY"


class LabelStudioResource(dg.ConfigurableResource):  # type: ignore[misc]
    """Connection to a Label Studio server. Empty `url`/`api_key`: the managed local server."""

    url: str = ""
    api_key: str = ""
    home_root: str = ""  # empty: $FOOTPRINT_HOME at run time
    timeout_s: float = 30.0
    max_attempts: int = 4
    backoff_s: float = 0.5

    @classmethod
    def from_env(cls) -> LabelStudioResource:
        """Wire `LABEL_STUDIO_URL` / `LABEL_STUDIO_API_KEY` through dg.EnvVar when they are set."""
        url = dg.EnvVar(ENV_URL) if os.environ.get(ENV_URL) else ""
        api_key = dg.EnvVar(ENV_API_KEY) if os.environ.get(ENV_API_KEY) else ""
        return cls(url=url, api_key=api_key)

    @classmethod
    def from_env_now(cls) -> LabelStudioResource:
        """For code outside Dagster (CLI, bench): the same variables, read now."""
        return cls(url=os.environ.get(ENV_URL, ""), api_key=os.environ.get(ENV_API_KEY, ""))

    def server_paths(self) -> ServerPaths:
        return ServerPaths.under(FootprintHome.resolve(self.home_root or None).labelstudio_dir)

    def resolved_url(self) -> str:
        return (self.url or status(self.server_paths()).url).rstrip("/")

    def client(self) -> LabelStudioClient:
        """A new client (close it, or use it as a context manager). Raises LabelStudioError when no
        token can be found."""
        url = self.resolved_url()
        token = self.api_key or (read_token(self.server_paths()) if not self.url else None)
        if not token:
            raise LabelStudioError(
                f"no API token for Label Studio at {url}: set {ENV_API_KEY}, or start the managed "
                "server with `footprint labelstudio up`"
            )
        return LabelStudioClient(
            url, token, timeout_s=self.timeout_s, max_attempts=self.max_attempts, backoff_s=self.backoff_s
        )

    def metered_services(self) -> tuple[str, ...]:
        """The local services a step using this resource relies on, for its meter window's
        `uses_services`: the managed server (no URL configured); a server elsewhere is not ours to
        meter."""
        return () if self.url else (SERVICE_NAME,)

    def project_key(self, project_id: int) -> str:
        """A file-name-safe key for per-project state (server host:port + project id)."""
        host = self.resolved_url().split("://", 1)[-1].replace(":", "_").replace("/", "_")
        return f"{host}-p{project_id}"


class AnnotationPolicy(dg.ConfigurableResource):  # type: ignore[misc]
    """What is annotated and how labour is counted and watched."""

    project_title: str = "footprint: text classification"
    # The project's label set. Empty: the corpus's own labels (labeling/label_set.py). label_tasks
    # decides it once and hands it downstream; nothing else configures classes.
    choices: list[str] = Field(default_factory=list)
    import_batch_size: int = 500
    # label_tasks re-imports rows whose task was deleted in Label Studio (default: honour the deletion)
    reimport_deleted_tasks: bool = False
    idle_cap_s: float = 300.0  # Labelbox / Ango Hub pause timers after 5 min idle
    max_lead_time_s: float = 86_400.0  # above this a lead_time is malformed, not merely idle
    # label_tasks also imports clean_corpus's label conflicts (split == "conflict": normalised
    # duplicates whose source labels disagree) as adjudication tasks that list the disagreeing labels.
    # Off: they are left out and label_tasks' metadata says how many.
    adjudicate_conflicts: bool = False
    # Demo only: before syncing, simulated annotators (labeling/replay.py) bring the project's first
    # `simulate_tasks` tasks (0 = all) to their target overlap through the real API:
    # `simulate_target_overlap` annotations on `simulate_overlap_fraction` of the tasks, 1 on the
    # others, counting the annotations already there (a re-run adds nothing when all are at target).
    # Off unless FOOTPRINT_SIMULATE_ANNOTATORS=1 (set by `make demo`, `make dev` and the UI test): a
    # fresh machine has no human annotators.
    simulate_annotators: bool = False
    simulate_tasks: int = 240
    simulate_target_overlap: int = 2
    simulate_overlap_fraction: float = 0.45
    simulate_error_rate: float = 0.1
    lookback_s: float = 5.0  # re-read tasks updated this long before the cursor (commit races)
    budget_usd: float = 500.0
    warn_fraction: float = 0.8
    default_usd_per_hour: float | None = None  # None: the rate card's annotator_usd_per_hour default

    @classmethod
    def from_env(cls) -> AnnotationPolicy:
        """The default policy; the demo simulation is switched on by FOOTPRINT_SIMULATE_ANNOTATORS=1."""
        return cls(simulate_annotators=os.environ.get(ENV_SIMULATE, "") == "1")
