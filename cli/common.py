"""What every `mallcast` command shares: the console it speaks on and how it fails."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


def say(message: str) -> None:
    console.print(message, highlight=False)
