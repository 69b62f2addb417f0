"""`hameau ai models` and `hameau ai ask`: the node's AI from the command line."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from hameau.node import datadir
from hameau.node.cli import console, settings_for
from hameau.node.cli_typer import DataDirOption

ai_app = typer.Typer(
    help="The node's own AI: models, questions from the command line, lending it to peers.",
    no_args_is_help=True,
)


@ai_app.command("models")
def models(data_dir: DataDirOption = None) -> None:
    """The models this node can run (the packaged default and any GGUF in its models/ folder)."""
    from hameau.ai import catalog
    from hameau.ai.runtime import loaded_by_server

    node = datadir.open_node(settings_for(data_dir))
    try:
        table = Table("model", "size", "loaded", "default", "file")
        loaded = loaded_by_server(node)
        for model in catalog.available(node):
            size = f"{model.size / 1e6:.0f} MB" if model.size else "assembled on first use"
            default = "yes" if model.name == node.settings.ai_model else ""
            here = "yes" if model.name == loaded else "no"
            table.add_row(model.name, size, here, default, str(model.path))
        console.print(table)
        console.print("A model is loaded by the server when first asked, and unloaded after"
                      f" {node.settings.ai_idle_seconds} s without use.")  # fmt: skip
        console.print(f"Runs on: {_runtime_said(node)}", markup=False)
    finally:
        node.close()


def _runtime_said(node: datadir.Node) -> str:
    from hameau.ai.engines import REMOTE, chosen

    settings = node.settings
    label, binary = chosen(settings)
    if label == REMOTE:
        return f"the household's AI server at {settings.ai_backend_url} (ai_backend_url)."
    if label == "llama-server":
        if binary is None:
            return ("llama-server, which is not installed: run `hameau ai install-server`"
                    " (ai_runtime = \"llama-server\").")  # fmt: skip
        return (f"llama-server ({binary}), a child process answering"
                f" {settings.ai_parallel} requests at once.")  # fmt: skip
    return ("llama-cpp-python in the node's process, one request at a time"
            " (ai_runtime = \"llama-cpp-python\"); llama.cpp's own server answers several at"
            " once.")  # fmt: skip


@ai_app.command("install-server")
def install_server(
    jobs: Annotated[int, typer.Option(help="Compiler jobs; 0: one per CPU core.")] = 0,
) -> None:
    """Build llama.cpp's own server for this machine (once; about ten minutes on two cores).
    The node then runs its models with it, several requests at once."""
    from hameau.ai import build

    # A failure (BuildFailed) ends the command with its sentence on stderr and exit code 1.
    path = build.install(lambda line: console.print(line, markup=False), jobs or None)
    console.print(f"llama-server is ready: {path}", markup=False)


@ai_app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain words.")],
    member: Annotated[
        str, typer.Option(help="Whose documents to search, and whose history keeps it.")
    ],
    model: Annotated[str, typer.Option(help="A model from `hameau ai models`.")] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Ask the AI a question answered from a member's own documents (logged in their history)."""
    from hameau.accounts import members
    from hameau.ai import answering, retrieval
    from hameau.ai.runtime import Piece, Result, Runtime

    node = datadir.open_node(settings_for(data_dir))
    try:
        with node.sessions() as session:
            member_id = members.find_member(session, member).id
            hits = retrieval.sources_for(session, member_id, question)
        runtime = Runtime(node)
        messages = [{"role": "user", "content": question}]
        asked = answering.chat(runtime, member_id, model or node.settings.ai_model, messages,
                               hits, kind="ask")  # fmt: skip

        async def run() -> Result:
            result = Result()
            try:
                async for item in answering.answer(node, runtime, asked):
                    if isinstance(item, Piece):
                        console.print(item.text, end="", markup=False, highlight=False)
                    else:
                        result = item
            finally:
                await runtime.close()
            return result

        result = asyncio.run(run())
        console.print()
        _print_sources(asked.sources)
        console.print(
            f"{result.completion_tokens} tokens in {result.seconds:.1f} s, about"
            f" {result.energy_wh * 1000:.2f} mWh (an estimate); kept in {member}'s AI history."
        )
    finally:
        node.close()


def _print_sources(sources: list[dict[str, object]]) -> None:
    for source in sources:
        console.print(f"  [{source['number']}] {source['kind']}: {source['title']}", markup=False)
    if not sources:
        console.print("  (no document of yours matched; the answer is the model's alone)")


from hameau.ai.lending_cli import lend  # noqa: E402 (lending this node's AI to paired homes)

ai_app.command("lend")(lend)
