"""The speech cache command: where it is, how big, and clearing it."""

from __future__ import annotations

from pathlib import Path

import click

from ..strings import plural
from ..voices.cache import cache_size, clear_cache, default_cache_dir
from .app import cli


@cli.command()
@click.option("--clear", is_flag=True, help="Remove every cached clip: builds speak them again.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="The cache to show or clear [default: $AUDIOGUIDE_CACHE_DIR, else the per-user one].",
)
def cache(clear: bool, cache_dir: Path | None) -> None:
    """Show where the speech cache is, how big it is and how many clips it holds; --clear
    empties it.

    Example: audioguide cache --clear
    """
    folder = cache_dir.expanduser() if cache_dir else default_cache_dir()
    size = clear_cache(folder) if clear else cache_size(folder)
    held = f"{plural(size.clips, 'clip')}, {size.size_bytes / 1e6:.1f} MB"
    click.echo(f"Cleared {folder}: {held} removed" if clear else f"Speech cache: {folder}")
    if not clear:
        click.echo(f"  {held}; `audioguide cache --clear` empties it")
