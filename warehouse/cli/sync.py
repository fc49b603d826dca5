"""`footprint sync`: merge pending fact batches, with a progress bar when there are many."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from warehouse.cli.errors import EXIT_ENVIRONMENT, EXIT_QUARANTINE, CliError

if TYPE_CHECKING:
    from warehouse.home import FootprintHome
    from warehouse.loader import SyncResult

PROGRESS_MIN_BATCHES = 10
_POLL_S = 0.2


def _sync_with_progress(home: FootprintHome, total: int, wait_s: float, keep_loaded: bool) -> SyncResult:
    """Run the loader; a side thread watches pending/ empty out and moves the bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from warehouse.batches import pending_batches
    from warehouse.cli.render import stderr_console
    from warehouse.loader import sync

    done = threading.Event()
    with Progress(
        TextColumn("merging fact batches"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    ) as progress:
        task = progress.add_task("sync", total=total)

        def watch() -> None:
            while not done.wait(_POLL_S):
                progress.update(task, completed=max(0, total - len(pending_batches(home))))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            return sync(home, wait_s=wait_s, keep_loaded=keep_loaded)
        finally:
            done.set()
            watcher.join()
            progress.update(task, completed=total)


def run_sync(home: FootprintHome, *, wait_s: float, keep_loaded: bool) -> int:
    """Merge, print what happened; returns the exit code (3 when a batch was quarantined)."""
    from warehouse.batches import pending_batches
    from warehouse.cli.render import stdout_console
    from warehouse.connection import WarehouseLockedError
    from warehouse.loader import sync
    from warehouse.store import StoreError
    from warehouse.upload import configured_store

    local = configured_store(home).local
    total = len(pending_batches(home))
    try:
        if local and total >= PROGRESS_MIN_BATCHES:
            result = _sync_with_progress(home, total, wait_s, keep_loaded)
        else:
            result = sync(home, wait_s=wait_s, keep_loaded=keep_loaded)
    except WarehouseLockedError as err:
        raise CliError(
            f"{err}; {total} fact batches pending. Close the other session or retry with "
            "`footprint sync --wait SECONDS`",
            EXIT_ENVIRONMENT,
        ) from err
    except StoreError as err:
        raise CliError(
            f"{err}; nothing was merged and no batch is lost (spooled batches stay under "
            f"{home.pending_dir}). Check FOOTPRINT_STORE, AWS_ENDPOINT_URL and the credentials, then retry",
            EXIT_ENVIRONMENT,
        ) from err
    console = stdout_console()
    if result.uploaded_batches:
        console.print(
            f"uploaded {result.uploaded_batches} spooled fact batches to the store", highlight=False
        )
    if result.incomplete_uploads:
        console.print(
            f"{result.incomplete_uploads} batches in the store have no MANIFEST yet (an upload in "
            "progress or cut off; its writer re-uploads it): not merged",
            highlight=False,
        )
    console.print(
        f"loaded {result.loaded_batches} fact batches ({result.loaded_facts:,} facts); "
        f"skipped {result.skipped_batches} already loaded; "
        f"quarantined {len(result.quarantined)}; pending {result.pending_left}",
        highlight=False,
    )
    if result.stale_tmp_removed:
        console.print(
            f"removed {len(result.stale_tmp_removed)} unpublished batch dirs left by writers that died "
            f"mid-write: {', '.join(result.stale_tmp_removed)}",
            highlight=False,
            markup=False,
        )
    for batch_id, reason in sorted(result.quarantined.items()):
        console.print(
            f"quarantined {batch_id}: {reason} (moved to {home.quarantine_dir / batch_id})",
            highlight=False,
            markup=False,
        )
    return EXIT_QUARANTINE if result.quarantined else 0


def run_upload(home: FootprintHome) -> int:
    """`footprint sync --upload`: push this host's spooled batches to the store."""
    from warehouse.cli.render import stdout_console
    from warehouse.upload import configured_store, prune_uploaded, upload_spool

    store = configured_store(home)
    if store.local:
        raise CliError(
            "FOOTPRINT_STORE is not set: batches are already in the local store "
            f"({home.pending_dir}); run `footprint sync` to merge them",
            EXIT_ENVIRONMENT,
        )
    result = upload_spool(home, store)
    prune_uploaded(home)
    stdout_console().print(
        f"uploaded {len(result.uploaded)} fact batches to {store.url}; {result.left} still spooled",
        highlight=False,
        markup=False,
    )
    if result.error is not None:
        raise CliError(
            f"{result.error}; {result.left} batches stay spooled under {home.pending_dir}", EXIT_ENVIRONMENT
        )
    return 0
