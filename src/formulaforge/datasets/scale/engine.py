"""Run the ContextFormulas pipeline on datatrove's Local, Slurm or Ray executor, resumably.

Stages (each a datatrove executor with its own completion markers under the work dir):

1. ``extract`` (--tasks tasks): papers -> metadata filter -> extraction -> stage writer
   (+ MinHash signatures);
2. ``buckets`` (14 tasks) and ``cluster`` (1 task): datatrove's MinHash LSH and clustering;
3. ``assemble`` (1 task): the dataset, written atomically to OUT.

The work dir (``.OUT.work`` next to OUT) holds the intermediate files. A killed run started
again with the same settings skips the tasks whose completion marker exists; different
settings (sources, seed, tasks, filters, ...) start from a fresh work dir, so stale results
are never reused. It is removed after a successful local or Ray run unless ``keep_work``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formulaforge import __version__
from formulaforge.datasets.builder import DEFAULT_SOURCE, BuildConfig, BuildReport, _check_out
from formulaforge.datasets.scale.plan import Plan, file_stamp, make_plan
from formulaforge.sources.arxiv_metadata import PaperFilter

EXECUTORS = ("local", "slurm", "ray")
NEAR_DUP = ("minhash", "off")
STAGE_FORMATS = ("jsonl", "parquet")
MARKER = "formulaforge-work.json"


@dataclass
class EngineConfig:
    executor: str = "local"
    tasks: int = 1
    workers: int = 1
    metadata: str | None = None
    categories: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    near_dup: str = "minhash"
    stage_format: str = "jsonl"
    storage_options: dict[str, Any] = field(default_factory=dict)
    keep_work: bool = False
    slurm_partition: str | None = None
    slurm_time: str = "24:00:00"
    slurm_env: str | None = None  # shell line run before each Slurm task, e.g. "source venv/bin/activate"
    mem_per_cpu_gb: float = 2.0

    def check(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}")
        if self.near_dup not in NEAR_DUP:
            raise ValueError(f"--near-dup must be one of {', '.join(NEAR_DUP)}")
        if self.stage_format not in STAGE_FORMATS:
            raise ValueError(f"--stage-format must be one of {', '.join(STAGE_FORMATS)}")
        if self.tasks < 1 or self.workers < 1:
            raise ValueError("--tasks and --workers must be at least 1")
        if self.executor == "slurm" and not self.slurm_partition:
            raise ValueError("--executor slurm needs --slurm-partition")
        if (self.categories or self.licenses) and not self.metadata:
            raise ValueError("--categories/--licenses need --metadata (the arXiv metadata snapshot)")


def require_datatrove() -> None:
    try:
        import datatrove  # noqa: F401
    except ImportError:
        raise ValueError(
            "this build needs datatrove: pip install 'formulaforge[scale]' (arXiv bulk tars, remote paths, --executor)"
        ) from None


def work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.work"


def prepare_work(work: Path, fingerprint: dict[str, Any]) -> bool:
    """Create or reuse the work dir; True when resuming. A foreign folder there is never touched."""
    marker = work / MARKER
    if work.exists():
        if not marker.is_file():
            raise ValueError(f"{work} exists and was not made by FormulaForge; refusing to use it")
        try:
            old = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            old = None
        if old == fingerprint:
            return True
        shutil.rmtree(work)  # ours, from a run with other settings: its results must not be reused
    work.mkdir(parents=True)
    marker.write_text(json.dumps({"fingerprint": fingerprint}, indent=1), encoding="utf-8")
    return False


def build_at_scale(
    sources: list[str],
    out: str | Path,
    cfg: BuildConfig | None = None,
    ecfg: EngineConfig | None = None,
    *,
    force: bool = False,
) -> BuildReport | None:
    """Build like :func:`build_dataset`, on datatrove. Returns ``None`` when Slurm jobs were submitted.

    ``out`` must be absent, empty or an earlier dataset; anything else needs ``force`` (as ``data build``).
    """
    require_datatrove()
    cfg = cfg or BuildConfig()
    ecfg = ecfg or EngineConfig()
    ecfg.check()
    out = Path(out)
    _check_out(out, force)
    sources = list(sources) or [DEFAULT_SOURCE]
    plan = make_plan(sources, ecfg.storage_options)
    if not plan.inputs:
        raise ValueError("no documents or arXiv bulk tars found in " + ", ".join(sources))
    fingerprint = {
        "formulaforge_version": __version__,
        "sources": sources,
        "inputs": plan.fingerprint,
        "metadata_file": file_stamp(ecfg.metadata, ecfg.storage_options) if ecfg.metadata else None,
        "build": asdict(cfg) | {"workers": None},
        "engine": {
            k: v
            for k, v in asdict(ecfg).items()
            if k in ("tasks", "metadata", "categories", "licenses", "near_dup", "stage_format")
        },
    }
    work = work_dir(out)
    prepare_work(work, json.loads(json.dumps(fingerprint)))
    done = work / "logs" / "assemble" / "completions" / "00000"
    if done.exists() and not (out / "manifest.json").exists():
        done.unlink()  # the dataset was removed since: assemble it again
    stages = _stages(plan, sources, work, out, cfg, ecfg, force)
    if ecfg.executor == "slurm":
        _submit_slurm(stages, work, ecfg)
        return None
    if ecfg.executor == "ray":
        _run_ray(stages, work, ecfg)
    else:
        _run_local(stages, work, ecfg)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    if not ecfg.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return BuildReport(out, manifest, manifest.get("warnings", []))


def _stages(
    plan: Plan, sources: list[str], work: Path, out: Path, cfg: BuildConfig, ecfg: EngineConfig, force: bool
) -> list[tuple[str, list[Any], int]]:
    from datatrove.pipeline.dedup.minhash import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )

    from formulaforge.datasets.scale.assemble import AssembleDataset
    from formulaforge.datasets.scale.blocks import (
        MINHASH,
        ExtractTriplets,
        MetadataFilter,
        PaperReader,
        WhitespaceWords,
        stage_writer,
    )

    paper_filter = PaperFilter(tuple(ecfg.categories), tuple(ecfg.licenses))
    extract: list[Any] = [PaperReader(plan, ecfg.storage_options, ecfg.metadata)]
    if paper_filter.active:
        extract.append(MetadataFilter(paper_filter))
    extract += [
        ExtractTriplets(str(work / "docs"), cfg),
        stage_writer(str(work / "stage"), ecfg.stage_format),
    ]
    minhash = work / "minhash"
    stages: list[tuple[str, list[Any], int]] = []
    if ecfg.near_dup == "minhash":
        extract.append(
            MinhashDedupSignature(str(minhash / "sigs"), config=MINHASH, language=WhitespaceWords())
        )
        stages.append(("extract", extract, ecfg.tasks))
        buckets = MinhashDedupBuckets(str(minhash / "sigs"), str(minhash / "buckets"), config=MINHASH)
        stages.append(("buckets", [buckets], MINHASH.num_buckets))
        cluster = MinhashDedupCluster(
            str(minhash / "buckets"), str(minhash / "clusters"), config=MINHASH, save_cluster_id=True
        )
        stages.append(("cluster", [cluster], 1))
    else:
        stages.append(("extract", extract, ecfg.tasks))
    info = {
        "tasks": ecfg.tasks,
        "stage_format": ecfg.stage_format,
        "near_dup": ecfg.near_dup,
        "sources": sources,
        "errors": plan.errors,
        "settings": {
            "metadata": ecfg.metadata,
            "categories": list(ecfg.categories),
            "licenses": list(ecfg.licenses),
            "near_dup": ecfg.near_dup,
        },
        "engine": {"executor": ecfg.executor, "tasks": ecfg.tasks, "workers": ecfg.workers, **_versions()},
        "force": force,  # the user's --force reaches the assembling step (it may run as another job)
    }
    stages.append(("assemble", [AssembleDataset(str(work), str(out), cfg, info)], 1))
    return stages


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"datatrove": version("datatrove")}


def _check_done(executor: Any, name: str) -> None:
    missing = executor.get_incomplete_ranks(skip_completed=True)
    if missing:
        raise RuntimeError(
            f"stage {name}: {len(missing)} of {executor.world_size} tasks did not complete; "
            "see the task logs under the work dir and run the same command again to resume"
        )


def _run_local(stages: list[tuple[str, list[Any], int]], work: Path, ecfg: EngineConfig) -> None:
    from datatrove.executor import LocalPipelineExecutor

    for name, pipeline, tasks in stages:
        ex = LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=min(ecfg.workers, tasks), logging_dir=str(work / "logs" / name)
        )
        ex.run()
        _check_done(ex, name)


def _run_ray(stages: list[tuple[str, list[Any], int]], work: Path, ecfg: EngineConfig) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'formulaforge[ray]'") from None
    from datatrove.executor import RayPipelineExecutor

    started = not ray.is_initialized()
    mem_gb = ecfg.mem_per_cpu_gb
    if started:
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address)
        else:  # a one-machine Ray with as many CPUs as --workers; no memory reservation to wait for
            ray.init(num_cpus=ecfg.workers, include_dashboard=False, log_to_driver=False)
            mem_gb = 0.25
    try:
        for name, pipeline, tasks in stages:
            ex = RayPipelineExecutor(
                pipeline,
                tasks=tasks,
                workers=min(ecfg.workers, tasks),
                logging_dir=str(work / "logs" / name),
                cpus_per_task=1,
                mem_per_cpu_gb=mem_gb,
            )
            ex.run()
            _check_done(ex, name)
    finally:
        if started:
            ray.shutdown()


def _submit_slurm(stages: list[tuple[str, list[Any], int]], work: Path, ecfg: EngineConfig) -> None:
    """One Slurm array job per stage, each depending on the previous one (sbatch --dependency)."""
    from datatrove.executor import SlurmPipelineExecutor

    prev = None
    for name, pipeline, tasks in stages:
        prev = SlurmPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=ecfg.workers if name == "extract" else -1,
            time=ecfg.slurm_time,
            partition=ecfg.slurm_partition or "",
            cpus_per_task=1,
            mem_per_cpu_gb=int(max(1, ecfg.mem_per_cpu_gb)),
            job_name=f"formulaforge-{name}",
            env_command=ecfg.slurm_env,
            logging_dir=str(work / "logs" / name),
            slurm_logs_folder=str(work / "slurm_logs" / name),
            depends=prev,
        )
    assert prev is not None
    prev.run()
