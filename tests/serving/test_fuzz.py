"""API fuzzing from the OpenAPI schema (schemathesis) against a real uvicorn on 127.0.0.1.

Valid and invalid requests generated from /openapi.json, a bounded number per mode (a few
seconds): no 5xx but the deliberate 503s (a full queue, feedback off, a model that cannot load),
every error in the API's JSON error shape, every success valid against its response schema.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from emotune.serving.api import ServerSettings  # noqa: E402
from tests.fixtures.serving import live_server  # noqa: E402

EXAMPLES = 60  # per generation mode: ~2 s against TF-IDF models


@pytest.fixture(scope="module")
def server(tfidf_run, multi_run, tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "feedback.sqlite"
    with live_server([tfidf_run, multi_run], ServerSettings(feedback_db=db, max_texts=64, max_chars=2_000)) as srv:
        yield srv


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_no_5xx_and_json_errors(server, mode):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call(base_url=server.url, timeout=30)
        status = response.status_code
        seen[status] = seen.get(status, 0) + 1
        where = f"{case.method} {case.formatted_path} {case.body!r:.200} -> {status} {response.text[:300]}"
        assert status < 500 or (status == 503 and response.json()["error"]["code"] != "internal_error"), where
        if status >= 400:
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, where
            assert isinstance(body["error"]["message"], str) and body["error"]["message"], where
        elif case.operation.method.upper() != "GET" or case.operation.path != "/readyz":
            case.validate_response(response, checks=[response_schema_conformance])

    check()
    assert sum(seen.values()) >= 10, seen
    if mode == GenerationMode.POSITIVE:
        assert any(200 <= s < 300 for s in seen), seen  # the fuzzer reached the models, not only the validation
