"""The HTTP API and the web page, in one FastAPI app served by uvicorn.

Endpoints::

    POST /v1/classify   {"texts": [...], "model": optional id, "top_k": optional}
    GET  /v1/models     served models, their labels, load state and batching statistics
    POST /v1/explain    {"texts": [...], "model", "label", "method"}: per-word scores (emotune.explain)
    POST /v1/feedback   thumbs up/down and corrected labels from the web page (SQLite)
    POST /v1/jobs       a CSV or JSONL upload (raw body, Content-Type text/csv or application/x-ndjson,
                        ?model=&text_col=&filename=) labelled in the background (serving/jobs.py);
    GET  /v1/jobs/{id}  its progress; GET /v1/jobs/{id}/result: the labelled file
    GET  /healthz       the process answers
    GET  /readyz        every run's metadata and weight files are valid and the default model loads
    GET  /              the web page (static/index.html: no CDN, no build step)
    GET  /docs          Swagger UI, only with ``docs=True`` (``serve --docs``): FastAPI's page runs
                        JS from a CDN on this origin, where the web page keeps the API key;
                        /openapi.json is always served, locally

Every error, whoever raises it (validation, routing, the model), is
``{"error": {"code": ..., "message": ..., "field": ...}}`` with a 4xx/5xx status, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from emotune import __version__
from emotune.errors import EmotuneError
from emotune.serving.batching import MicroBatcher, QueueFull
from emotune.inference.predict import rank_scores, score_texts
from emotune.serving.jobs import UPLOAD_TYPES, JobStore
from emotune.serving.registry import ModelRegistry

log = logging.getLogger("emotune.serving")


@dataclass
class ServerSettings:
    max_batch: int = 32  # texts per model forward pass
    # How long the first request of a batch waits for company. On a CPU every text costs the same
    # with or without company, so waiting only adds latency (BENCHMARKS.md: p50 17.6 -> 12.1 ms at
    # one client); requests arriving while the model is busy still form the next batch.
    max_wait_ms: float = 0.0
    queue_size: int = 256  # waiting requests per model before 503
    max_texts: int = 256  # texts per request
    max_explain_texts: int = 8  # texts per /v1/explain request: each costs a forward pass per word (or IG's path)
    max_chars: int = 20_000  # characters per text (longer texts are windowed, not cut, up to this)
    max_body_bytes: int = 32 * 1024 * 1024
    max_upload_bytes: int = 8 * 1024 * 1024  # a file to label (POST /v1/jobs)
    max_predicted_bytes: int = 64 * 1024  # a feedback row's "predicted" object, as stored JSON
    read_timeout_s: float = 15.0  # to receive a whole request; half-sent connections are closed after it
    keep_alive_s: float = 5.0  # an idle connection between two requests
    max_connections: int = 1024  # open connections and tasks; more get a 503
    api_key: str | None = None  # bearer token for /v1/*; None = open (bind to 127.0.0.1!)
    feedback_db: Path | None = None
    batch_size: int | None = None  # the backend's own inner batch size
    retry_after_s: int = 1
    # Swagger UI at /docs (and ReDoc at /redoc) load their scripts from a CDN into this origin,
    # which can read the key the web page keeps: off unless asked for
    docs: bool = False


# -- errors ---------------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def _error(status: int, code: str, message: str, field: str | None = None, headers=None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status,
                        headers=headers)


def _field_path(loc) -> str | None:
    """("body", "texts", 3) -> "texts[3]"."""
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "too_many_requests", 503: "unavailable"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        field = _field_path(first.get("loc", ()))
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error", "")
            return _error(400, "invalid_json", f"The request body is not valid JSON: {reason}".rstrip(": "))
        content_type = request.headers.get("content-type", "")
        if field is None and request.method == "POST" and not content_type:
            # not guessed as JSON: a browser sends a body without Content-Type cross-site with no
            # CORS preflight, and JSON-only keeps such requests out of the API
            return _error(415, "unsupported_media_type",
                          "Send the body as JSON with Content-Type: application/json (the request has none)")
        if field is None and request.method == "POST" and content_type and "json" not in content_type:
            return _error(415, "unsupported_media_type",
                          f"Send the body as JSON with Content-Type: application/json (got {content_type})")
        if field is None:
            return _error(422, "invalid_request", "The request body must be a JSON object")
        msg = first.get("msg", "invalid value").removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        return _error(422, "invalid_request", f"{field or 'body'}: {msg}{more}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = str(exc.detail)
        code = _HTTP_CODES.get(exc.status_code, "error")
        if exc.status_code == 400 and "parsing the body" in message:
            code, message = "invalid_body", "The request body could not be read as UTF-8 JSON"
        return _error(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"Internal error: {type(exc).__name__}")


class _BodyLimit:
    """Pure ASGI middleware: refuse bodies over ``limit`` bytes before they are read into memory."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = _error(413, "payload_too_large", f"The request body is larger than {self.limit} bytes", "body")
            return await response(scope, receive, send)
        # Read the body here, up to the limit: a chunked body (no Content-Length) over the limit gets
        # the same 413 (raised inside FastAPI's body reading it would turn into a 400).
        chunks, seen, message = [], 0, {"type": "http.request", "more_body": True}
        while message["type"] == "http.request" and message.get("more_body"):
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                response = _error(413, "payload_too_large", f"The request body is larger than {self.limit} bytes", "body")
                return await response(scope, receive, send)
            chunks.append(message.get("body", b""))
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
        if message["type"] != "http.request":
            replay = [message]  # the client went away

        async def replayed():
            return replay.pop() if replay else await receive()

        return await self.app(scope, replayed, send)


# -- request / response models ------------------------------------------------------------------
def _no_lone_surrogates(value: str) -> str:
    # JSON's "\ud800" escape decodes to a lone surrogate: no UTF-8 exists for it, so it could be
    # neither tokenised reliably nor stored (SQLite, CSV exports)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains a lone surrogate (\\u{ord(value[exc.start]):04x}) at character {exc.start}; "
                         "send valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_no_lone_surrogates)]


class _Strict(BaseModel):
    # strict: "3" is not a top_k and 1 is not a text; extra keys are typos, not options
    model_config = ConfigDict(extra="forbid", strict=True)


class ClassifyRequest(_Strict):
    texts: list[Text] = Field(..., description="Texts to classify", examples=[["I passed my exam!"]])
    model: Text | None = Field(None, description="Model id from GET /v1/models (default: the first served)")
    top_k: int | None = Field(None, ge=1, description="Scores to return per text, best first (default: all)")


class LabelScore(BaseModel):
    label: Text
    score: float


class TextResult(BaseModel):
    labels: list[str] = Field(description="The decision: the top label (single-label) or every label "
                                          "over its threshold (multi-label)")
    scores: list[LabelScore]
    windows: int = Field(1, description="Overlapping windows a long text was scored in")


class ClassifyResponse(BaseModel):
    model: str
    task: str
    results: list[TextResult]


class ExplainRequest(_Strict):
    texts: list[Text] = Field(..., description="Texts to explain", examples=[["I passed my exam!"]])
    model: Text | None = Field(None, description="Model id from GET /v1/models (default: the first served)")
    label: Text | None = Field(None, description="Label to explain (default: each text's predicted label)")
    method: Literal["auto", "integrated-gradients", "occlusion", "linear"] | None = Field(
        None, description="auto (default): the most faithful method the model supports")


class FeedbackPrediction(BaseModel):
    model_config = ConfigDict(extra="allow")
    labels: list[Text] = []
    scores: list[LabelScore] = []


class FeedbackRequest(_Strict):
    model: Text | None = None
    text: Text
    predicted: FeedbackPrediction | None = None
    verdict: Literal["up", "down"] | None = None
    correct_label: Text | None = None


class FeedbackResponse(BaseModel):
    id: int


def _check_predicted(predicted: dict, limit: int) -> None:
    """The stored copy of ``predicted`` (free-form: extra keys are allowed) is small, valid Unicode."""
    try:
        size = len(json.dumps(predicted, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(422, "invalid_request", "predicted: contains a lone surrogate; send valid Unicode text",
                       "predicted") from None
    if size > limit:
        raise ApiError(413, "field_too_large", f"predicted: {size} bytes as JSON; the limit is {limit}", "predicted")


# -- the app ------------------------------------------------------------------------------------
def _index_html() -> str:
    return resources.files("emotune.serving").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(registry: ModelRegistry, settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    batchers: dict[str, MicroBatcher] = {}
    jobs = JobStore()
    feedback = None
    if settings.feedback_db is not None:
        from emotune.serving.feedback import FeedbackStore

        feedback = FeedbackStore(settings.feedback_db)

    def batcher(model_id: str) -> MicroBatcher:
        if model_id not in batchers:
            def predict(texts, _id=model_id):
                return score_texts(registry.get(_id), texts, batch_size=settings.batch_size)

            batchers[model_id] = MicroBatcher(predict, max_batch=settings.max_batch, max_wait_ms=settings.max_wait_ms,
                                              queue_size=settings.queue_size, name=model_id)
        return batchers[model_id]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for model_id in registry.ids:
            batcher(model_id).start()
        yield
        for b in batchers.values():
            await b.stop()
        jobs.close()

    app = FastAPI(title="emotune", version=__version__, lifespan=lifespan,
                  docs_url="/docs" if settings.docs else None, redoc_url=None,
                  description="Text emotion classification. Every error is "
                              '`{"error": {"code", "message", "field"}}`.')
    app.state.registry, app.state.settings, app.state.batchers = registry, settings, batchers
    _install_error_handlers(app)
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)

    def authorize(request: Request) -> None:
        if not settings.api_key:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
            raise ApiError(401, "unauthorized", "A valid API key is required: Authorization: Bearer KEY",
                           "authorization", headers={"WWW-Authenticate": "Bearer"})

    def served(model_id: str | None):
        try:
            return registry.entry(model_id)
        except KeyError:
            raise ApiError(404, "unknown_model",
                           f"Unknown model '{model_id}'; available: {', '.join(registry.ids)}", "model") from None

    # -- routes ---------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(_index_html())

    @app.get("/healthz", tags=["health"])
    async def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"])
    async def readyz():
        # every model's metadata and weight headers (cheap, cached by file size/mtime), then the
        # default model loaded: one broken run among many makes the server not ready, by name
        states, broken = {}, []
        for m in registry.models.values():
            try:
                await run_in_threadpool(m.check)
                states[m.id] = "loaded" if m.clf is not None else "available"
            except EmotuneError as exc:
                broken.append(f"'{m.id}': {exc.message}")
        default = registry.default_id
        if not broken and registry.models[default].clf is None:
            try:
                await run_in_threadpool(registry.get, default)
                states[default] = "loaded"
            except EmotuneError as exc:
                broken.append(f"'{default}': {exc.message}")
        if broken:
            raise ApiError(503, "not_ready", "Models that cannot be loaded: " + "; ".join(broken), "model")
        return {"status": "ready", "models": states}

    @app.get("/v1/models", tags=["models"])
    async def models(request: Request):
        authorize(request)
        out = []
        for info in registry.describe():
            b = batchers.get(info["id"])
            info["batching"] = b.stats.to_dict() if b else {}
            info["queued"] = b.queued if b else 0
            out.append(info)
        return {"models": out, "default": registry.default_id, "feedback": feedback is not None,
                "limits": {"max_texts": settings.max_texts, "max_chars": settings.max_chars,
                           "max_explain_texts": settings.max_explain_texts,
                           "max_batch": settings.max_batch, "max_wait_ms": settings.max_wait_ms,
                           "queue_size": settings.queue_size, "max_upload_bytes": settings.max_upload_bytes},
                "memory": {"budget_bytes": registry.memory_budget, "loaded_bytes": registry.loaded_bytes,
                           "evictions": registry.evictions}}

    def check_texts(texts: list[str], limit: int, what: str) -> None:
        """The limits classify and explain share: at least one text, at most ``limit``, none empty or too long."""
        if not texts:
            raise ApiError(422, "invalid_request", "texts: give at least one text", "texts")
        if len(texts) > limit:
            raise ApiError(413, "too_many_texts", f"texts: {len(texts)} texts in one {what}; the limit is {limit}",
                           "texts")
        for i, text in enumerate(texts):
            if not text.strip():
                raise ApiError(422, "empty_text", f"texts[{i}] is empty", f"texts[{i}]")
            if len(text) > settings.max_chars:
                raise ApiError(413, "text_too_long",
                               f"texts[{i}] has {len(text)} characters; the limit is {settings.max_chars}",
                               f"texts[{i}]")

    @app.post("/v1/classify", response_model=ClassifyResponse, tags=["classify"],
              responses={404: {"description": "Unknown model"}, 413: {"description": "Too many or too long texts"},
                         422: {"description": "Invalid request"}, 503: {"description": "Queue full; retry later"}})
    async def classify(body: ClassifyRequest, request: Request):
        authorize(request)
        m = served(body.model)
        check_texts(body.texts, settings.max_texts, "request")
        try:
            rows = await batcher(m.id).submit(body.texts)
        except QueueFull as exc:
            raise ApiError(503, "overloaded", f"Server busy: {exc}; retry shortly", None,
                           headers={"Retry-After": str(settings.retry_after_s)}) from None
        except EmotuneError as exc:
            raise ApiError(503, "model_unavailable", f"Model '{m.id}' is unavailable: {exc.message}", "model") from None
        label_set = m.label_set
        results = [rank_scores(r, label_set.names, label_set.task, body.top_k).to_dict() for r in rows]
        return {"model": m.id, "task": label_set.task.value, "results": results}

    @app.post("/v1/explain", tags=["explain"],
              responses={404: {"description": "Unknown model"}, 413: {"description": "Too many or too long texts"},
                         422: {"description": "Invalid request, unknown label, method the model lacks"},
                         503: {"description": "Model unavailable"}})
    async def explain(body: ExplainRequest, request: Request):
        from emotune.explain import ExplainError, explain_texts, resolve_method

        authorize(request)
        m = served(body.model)
        check_texts(body.texts, settings.max_explain_texts, "explain request")
        if body.label is not None and body.label not in m.label_set.names:
            raise ApiError(422, "unknown_label", f"label '{body.label}' is not a label of '{m.id}': "
                           f"{', '.join(m.label_set.names)}", "label")
        try:
            clf = await run_in_threadpool(registry.get, m.id)
            method = resolve_method(clf, body.method or "auto")
            found = await run_in_threadpool(explain_texts, clf, body.texts, method=method, label=body.label,
                                            batch_size=settings.batch_size)
        except ExplainError as exc:
            raise ApiError(422, f"unsupported_{exc.field}" if exc.field == "method" else "invalid_request",
                           f"{exc.message}. {exc.hint or ''}".strip(), exc.field) from None
        except EmotuneError as exc:
            raise ApiError(503, "model_unavailable", f"Model '{m.id}' is unavailable: {exc.message}", "model") from None
        return {"model": m.id, "method": method, "explanations": [e.to_dict() for e in found]}

    @app.post("/v1/feedback", response_model=FeedbackResponse, status_code=201, tags=["feedback"])
    async def post_feedback(body: FeedbackRequest, request: Request):
        authorize(request)
        if feedback is None:
            raise ApiError(503, "feedback_disabled",
                           "Feedback is not collected: start the server with --feedback-db PATH")
        m = served(body.model)
        if not body.text.strip():
            raise ApiError(422, "empty_text", "text is empty", "text")
        if len(body.text) > settings.max_chars:
            raise ApiError(413, "text_too_long",
                           f"text has {len(body.text)} characters; the limit is {settings.max_chars}", "text")
        if body.verdict is None and not body.correct_label:
            raise ApiError(422, "invalid_request", "Give a verdict (up/down) or a correct_label", "verdict")
        labels = m.label_set.names
        if body.correct_label and body.correct_label not in labels:
            raise ApiError(422, "unknown_label",
                           f"correct_label '{body.correct_label}' is not a label of '{m.id}': {', '.join(labels)}",
                           "correct_label")
        predicted = body.predicted.model_dump() if body.predicted else {}
        _check_predicted(predicted, settings.max_predicted_bytes)
        row_id = await run_in_threadpool(feedback.add, model_id=m.id, text=body.text, predicted=predicted,
                                         verdict=body.verdict, correct_label=body.correct_label or None)
        return {"id": row_id}

    _add_job_routes(app, jobs, registry, settings, authorize, served)
    return app


def _add_job_routes(app: FastAPI, jobs: JobStore, registry: ModelRegistry, settings: ServerSettings,
                    authorize, served) -> None:
    """POST /v1/jobs (an upload to label), GET /v1/jobs/{id} (progress), GET /v1/jobs/{id}/result."""
    from fastapi.responses import FileResponse

    from emotune.inference.predict import predict_file
    from emotune.serving.jobs import JobsFull

    @app.post("/v1/jobs", status_code=202, tags=["jobs"],
              responses={413: {"description": "Upload over max_upload_bytes"},
                         415: {"description": "Not a CSV or JSONL body"},
                         422: {"description": "A bad row, column or field (named)"}})
    async def create_job(request: Request, model: str | None = None, text_col: str = "text",
                         filename: str | None = None):
        """Label a CSV or JSONL file: send it as the raw body with ``Content-Type: text/csv`` or
        ``application/x-ndjson``; poll ``GET /v1/jobs/{id}``, then download ``result``."""
        authorize(request)
        m = served(model)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        suffix = UPLOAD_TYPES.get(content_type)
        if suffix is None:
            # a CORS-safelisted type (text/plain, a form) is refused too: a page on another site could
            # send those without a preflight
            raise ApiError(415, "unsupported_media_type",
                           f"Send the file as the body with Content-Type text/csv or application/x-ndjson "
                           f"(got {content_type or 'none'})", "content-type")
        data = await request.body()
        if len(data) > settings.max_upload_bytes:
            raise ApiError(413, "payload_too_large", f"The file has {len(data)} bytes; the upload limit is "
                           f"{settings.max_upload_bytes}", "body")
        if not data.strip():
            raise ApiError(422, "empty_file", "The uploaded file is empty", "body")
        try:
            job = await run_in_threadpool(jobs.create, data, suffix=suffix, filename=filename, model=m.id,
                                          text_col=text_col)
        except JobsFull as exc:
            raise ApiError(503, "busy", f"Server busy: {exc}; retry later",
                           headers={"Retry-After": str(settings.retry_after_s)}) from None
        except EmotuneError as exc:
            field = "text_col" if "no column" in exc.message or "field; it has" in exc.message else "body"
            raise ApiError(422, "invalid_file", exc.message, field) from None

        def label(job, on_progress) -> dict:
            clf = registry.get(job.model)
            context = getattr(getattr(clf, "input_spec", None), "context", None)  # dialogue runs, as the CLI
            return predict_file(clf, job.input, job.output, text_col=job.text_col, batch_size=settings.batch_size,
                                chunk_size=64, context=context, on_progress=on_progress).to_dict()

        jobs.start(job, label)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    def find(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", f"No job '{job_id}' (finished jobs are kept for a while only)", "id")
        return job

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def job_status(job_id: str, request: Request):
        authorize(request)
        return find(job_id).to_dict()

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"])
    async def job_result(job_id: str, request: Request):
        authorize(request)
        job = find(job_id)
        if job.state != "done":
            raise ApiError(409, "not_ready", f"Job '{job_id}' is {job.state}" +
                           (f": {job.error}" if job.error else "; poll GET /v1/jobs/{id} until it is done"), "id")
        media = "text/csv" if job.suffix == ".csv" else "application/x-ndjson"
        return FileResponse(job.output, media_type=media, filename=job.download_name)


# -- running it ---------------------------------------------------------------------------------
def serve(runs, *, host: str = "127.0.0.1", port: int = 8000, settings: ServerSettings | None = None,
          onnx: bool = False, int8: bool = False, runtime: str | None = None, memory_budget: int | None = None,
          threads: int | None = None,
          log_level: str = "info", on_ready=None) -> None:
    """Validate the runs, then serve them until interrupted (blocking)."""
    import uvicorn

    from emotune.serving.http import uvicorn_config
    from emotune.serving.registry import serving_threads

    runtime = runtime or ("onnx" if onnx else None)
    registry = ModelRegistry(runs, runtime=runtime, int8=int8, memory_budget=memory_budget, freeze_gc=True,
                             threads=threads or (serving_threads() if runtime else None))  # raises before binding
    app = create_app(registry, settings)
    if on_ready:
        on_ready(registry, app)
    server = uvicorn.Server(uvicorn_config(app, host=host, port=port, log_level=log_level))
    asyncio.run(server.serve())


def api_key_from_env(var: str | None) -> str | None:
    """The API key in ``$var``; a named but empty variable is an error (an open server by accident)."""
    if not var:
        return None
    from emotune.errors import ConfigError

    value = os.environ.get(var, "")
    if not value.strip():
        raise ConfigError(f"--api-key-env {var}: the environment variable is not set or empty",
                          hint=f"export {var}=... before starting the server, or drop --api-key-env.")
    return value.strip()
