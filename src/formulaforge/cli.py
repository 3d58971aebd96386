"""The ``formulaforge`` command line.

Each command group lives in its own module under :mod:`formulaforge.commands`, which
imports heavy libraries (torch, transformers) only inside the commands, so
``formulaforge --help`` stays fast.
"""

from __future__ import annotations

import typer

from formulaforge import __version__
from formulaforge.commands import botfip as botfip_commands
from formulaforge.commands import data as data_commands
from formulaforge.commands import export, generate, synth, train, trees
from formulaforge.commands.app import app_command
from formulaforge.commands.eval import eval_command
from formulaforge.commands.report import report as report_command
from formulaforge.commands.run import run_command

app = typer.Typer(
    name="formulaforge",
    help="Teach LLMs mathematics the way researchers write it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# The main job, then the pipeline's parts in data-flow order.
app.command("run")(run_command)
app.add_typer(data_commands.app, name="data")
app.command()(train.train)
app.command()(generate.generate)
app.command("eval")(eval_command)
app.command("report")(report_command)
app.add_typer(export.app, name="export")
app.add_typer(synth.app, name="synth")
app.add_typer(trees.app, name="trees")
app.add_typer(botfip_commands.app, name="botfip")
app.command("app")(app_command)


@app.command()
def version() -> None:
    """Print the FormulaForge version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
