"""`emotune serve RUN [RUN ...]`: the HTTP API and the web page on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import RUNTIME_HELP, console_err, pick_runtime


def serve(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to serve; the first is the default model.")],
    host: Annotated[str, typer.Option(help="Interface to bind. Keep 127.0.0.1 unless a proxy or --api-key-env protects it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="Require 'Authorization: Bearer $VAR' on /v1/*.")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Texts per model forward pass across requests.")] = 32,
    max_wait_ms: Annotated[float, typer.Option("--max-wait-ms", min=0, help="How long a request waits for others to batch with (0: requests that arrive while the model is busy form the next batch; raise it on a GPU).")] = 0.0,
    queue_size: Annotated[int, typer.Option("--queue-size", min=1, help="Waiting requests per model before answering 503.")] = 256,
    max_texts: Annotated[int, typer.Option("--max-texts", min=1, help="Texts per request (413 above).")] = 256,
    max_explain_texts: Annotated[int, typer.Option("--max-explain-texts", min=1, help="Texts per POST /v1/explain request (413 above): each costs a pass per word.")] = 8,
    max_chars: Annotated[int, typer.Option("--max-chars", min=1, help="Characters per text (413 above); long texts are windowed.")] = 20_000,
    feedback_db: Annotated[Path | None, typer.Option("--feedback-db", help="SQLite file that stores feedback from the web page (off without it).")] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Serve the ONNX exports (emotune export RUN --onnx).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="With --onnx / --runtime: the int8-quantised exports.")] = False,
    runtime: Annotated[str | None, typer.Option("--runtime", help=RUNTIME_HELP)] = None,
    memory_budget_mb: Annotated[int | None, typer.Option("--memory-budget-mb", min=1, help="Keep loaded models within this estimate (default: half the free RAM).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch / onnxruntime threads (default: torch every core, onnxruntime every core but one, left to the HTTP event loop).")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    docs: Annotated[bool, typer.Option("--docs", help="Serve Swagger UI at /docs. Its page loads scripts from a CDN into this origin, where the web page keeps the API key: leave it off on a shared or keyed server (/openapi.json is always served).")] = False,
    read_timeout_s: Annotated[float, typer.Option("--read-timeout", min=0.1, help="Seconds a client has to send a whole request; slower (half-sent) connections are closed.")] = 15.0,
) -> None:
    """Serve runs over HTTP: POST /v1/classify, GET /v1/models, the web page at /, /openapi.json."""
    from emotune.serving.api import ServerSettings, api_key_from_env
    from emotune.serving.api import serve as run_server

    runtime = pick_runtime(runtime, onnx, int8)
    settings = ServerSettings(max_batch=max_batch, max_wait_ms=max_wait_ms, queue_size=queue_size,
                              max_texts=max_texts, max_explain_texts=max_explain_texts, max_chars=max_chars, api_key=api_key_from_env(api_key_env),
                              feedback_db=feedback_db, docs=docs, read_timeout_s=read_timeout_s)
    if host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        console_err.print(f"[yellow]Warning:[/] serving on {host} without an API key: anyone who can reach "
                          "this port can use it (see --api-key-env).", highlight=False)

    def on_ready(registry, app) -> None:
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        for m in registry.models.values():
            console_err.print(f"  model [bold]{m.id}[/] ({m.backend}, {m.label_set.task.value}, "
                              f"{len(m.label_set)} labels) <- {m.path}", highlight=False)
        api_docs = "/docs" if docs else "/openapi.json (Swagger UI: --docs)"
        console_err.print(f"  web page  http://{shown}:{port}/   API docs  http://{shown}:{port}{api_docs}", highlight=False)
        console_err.print("  feedback  " + (str(feedback_db) if feedback_db else "off (--feedback-db PATH)"),
                          highlight=False)

    run_server(runs, host=host, port=port, settings=settings, runtime=runtime, int8=int8,
               memory_budget=memory_budget_mb * 1024 * 1024 if memory_budget_mb else None, threads=threads,
               log_level=log_level, on_ready=on_ready)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
