"""Reliability and security of the API (issue 19): each numbered defect of the issue has a test here
that failed before its fix. Real servers on 127.0.0.1; nothing mocked."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
from servers import ADMIN_KEY, SCORING_KEY, auth, start_server, stop, wait_ready

from funnelcast.serving.limits import TokenBuckets
from funnelcast.serving.settings import ServingSettings

LEAD = {"lead_id": "L1", "created_at": "2025-01-01T00:00:00Z", "source": "web"}
DEAL = {
    "opportunity_id": "O1",
    "account_id": "A1",
    "owner": "王芳",
    "pipeline": "default",
    "product": "crm_suite",
    "amount": 1000,
    "currency": "CNY",
    "created_at": "2025-01-01T00:00:00Z",
}
POSTS = ("/v1/leads/score", "/v1/opportunities/score", "/v1/funnel", "/v1/forecast")


def _deal(**parts) -> dict:
    item = {
        "opportunity": dict(DEAL),
        "stage_history": [{"stage": "待沟通", "entered_at": "2025-01-01T00:00:00Z"}],
    }
    for key, value in parts.items():
        if key in DEAL or key == "expected_close_date":
            item["opportunity"][key] = value
        else:
            item[key] = value
    return item


# 1. no 500 from input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "where",
    ["created_at", "entered_at", "expected_close_date", "close_date_history", "activities", "amount_history"],
)
@pytest.mark.parametrize("when", ["9999-12-31T00:00:00Z", "1600-01-01T00:00:00Z"])
def test_deal_times_pandas_cannot_hold_are_a_422_naming_the_field(server, where, when):
    if where == "entered_at":
        item = _deal(stage_history=[{"stage": "待沟通", "entered_at": when}])
    elif where == "close_date_history":
        item = _deal(close_date_history=[{"changed_at": "2025-01-02T00:00:00Z", "expected_close_date": when}])
    elif where == "activities":
        item = _deal(activities=[{"activity_id": "a", "occurred_at": when, "type": "call"}])
    elif where == "amount_history":
        item = _deal(amount_history=[{"changed_at": when, "amount": 5}])
    else:
        item = _deal(**{where: when})
    reply = httpx.post(
        f"{server['url']}/v1/opportunities/score",
        json={"as_of": "2025-06-01T00:00:00Z", "opportunities": [item]},
        headers=auth(),
    )
    assert reply.status_code == 422, reply.text
    assert "outside the supported range" in json.dumps(reply.json()["error"]["details"])


@pytest.mark.parametrize("path", ["/v1/leads/score", "/v1/opportunities/score"])
def test_invalid_utf8_inside_an_activity_is_a_422(server, path):
    act = b'{"activity_id": "a\xff\xfe", "occurred_at": "2025-01-02T00:00:00Z", "type": "call"}'
    if path == "/v1/leads/score":
        body = b'{"leads": [{"lead": ' + json.dumps(LEAD).encode() + b', "activities": [' + act + b"]}]}"
    else:
        item = _deal()
        body = (
            b'{"opportunities": [{"opportunity": '
            + json.dumps(item["opportunity"]).encode()
            + b', "stage_history": '
            + json.dumps(item["stage_history"]).encode()
            + b', "activities": ['
            + act
            + b"]}]}"
        )
    reply = httpx.post(
        f"{server['url']}{path}", content=body, headers={**auth(), "content-type": "application/json"}
    )
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_input"


def test_forecast_by_owner_when_no_deal_has_a_known_currency(server):
    body = {
        "as_of": "2025-06-01T00:00:00Z",
        "period_end": "2025-09-30T00:00:00Z",
        "by": "owner",
        "opportunities": [_deal(currency="XXX")],
    }
    reply = httpx.post(f"{server['url']}/v1/forecast", json=body, headers=auth())
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert out["by_group"] == [] and out["open_deals"] == 0
    assert any("currency" in w for w in out["warnings"])


# 2. a 500 keeps its connection, logs one traceback ------------------------------------------------
def _raw_requests(port: int, requests: list[bytes]) -> list[bytes]:
    """Send requests one after another on one keep-alive connection; the raw responses."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for request in requests:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(
                next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
            )
            while len(rest) < length:
                rest += sock.recv(65536)
            out.append(head + b"\r\n\r\n" + rest)
    return out


def _serve_in_thread(app):
    """uvicorn on a free loopback port in a thread of this process (so a test can add a route)."""
    import uvicorn
    from servers import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread, port


def test_an_unexpected_error_answers_json_500_with_a_request_id_and_keeps_the_connection(caplog):
    from funnelcast.serving.app import create_app

    app = create_app(ServingSettings(rules_only=True, access_log=False))

    def boom() -> dict:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    server, thread, port = _serve_in_thread(app)
    try:
        get = b"GET /boom HTTP/1.1\r\nHost: x\r\nX-Request-ID: req-42\r\n\r\n"
        health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        with caplog.at_level("ERROR"):
            first, second = _raw_requests(port, [get, health])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    head, _, body = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500") and b"x-request-id: req-42" in head.lower()
    error = json.loads(body)["error"]
    assert (
        error["code"] == "internal_error" and "req-42" in error["message"] and "a bug" not in error["message"]
    )
    assert second.startswith(b"HTTP/1.1 200")  # same connection, next request answered
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "req-42" in tracebacks[0].getMessage()


# 3. auth before the body ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", [*POSTS, "/v1/admin/reload"])
def test_an_unauthenticated_request_is_refused_before_its_body_is_read(server, path):
    reply = httpx.post(
        f"{server['url']}{path}", content=b"{not json at all", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"
    assert reply.headers["www-authenticate"] == "ApiKey"


# 5. keys hashed once; readiness without paths --------------------------------------------------------
def test_settings_keep_digests_not_keys(monkeypatch):
    monkeypatch.setenv("FUNNELCAST_API_KEYS", "first-secret, second-secret")
    monkeypatch.setenv("FUNNELCAST_ADMIN_KEYS", "admin-secret")
    monkeypatch.setenv("FUNNELCAST_SESSION_SECRET", "session-secret-" + "s" * 32)
    settings = ServingSettings()
    dumped = settings.model_dump_json() + repr(settings) + str(vars(settings))
    for value in ("first-secret", "second-secret", "admin-secret", "session-secret-"):
        assert value not in dumped
    assert len(settings.key_hashes()) == 2 and len(settings.key_hashes(admin=True)) == 1
    # a digest may be configured instead of a key, and is taken as it is
    again = ServingSettings(api_keys=settings.api_keys, admin_keys=settings.admin_keys)
    assert again.key_hashes() == settings.key_hashes()


def test_readiness_without_a_key_shows_no_paths(tmp_path):
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}",
        "FUNNELCAST_MODELS_DIR": str(tmp_path / "no-models-here"),
        "FUNNELCAST_API_KEYS": SCORING_KEY,
    }
    proc, url, _ = start_server(env, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = httpx.get(f"{url}/readyz")
            if "missing" in ready.text:
                break
            time.sleep(0.3)
        assert ready.status_code == 503
        assert str(tmp_path) not in ready.text and "no-models-here" not in ready.text
        assert {d["message"] for d in ready.json()["error"]["details"]} == {"missing"}
        models = httpx.get(f"{url}/v1/models", headers=auth()).json()  # with a key: why
        assert "no-models-here" in models["problems"]["lead"]
    finally:
        stop(proc)


# 6. the contract ------------------------------------------------------------------------------------
def test_a_wrong_method_names_the_allowed_ones(server):
    reply = httpx.request("TRACE", f"{server['url']}/v1/leads/score", headers=auth())
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert reply.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", POSTS)
def test_a_chunked_body_over_the_limit_is_a_413_on_every_route(server, path):
    def chunks():
        yield b'{"opportunities": ['
        for _ in range(60):
            yield b" " * 50_000  # 3 MB in all; the test server allows 2 MB

    reply = httpx.post(
        f"{server['url']}{path}", content=chunks(), headers={**auth(), "content-type": "application/json"}
    )
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_every_json_route_takes_a_body_whatever_its_content_type(server, path, content_type):
    reply = httpx.post(
        f"{server['url']}{path}", content=b"{not json", headers={**auth(), "content-type": content_type}
    )
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_input"


def test_metrics_are_documented_as_prometheus_text(server):
    spec = httpx.get(f"{server['url']}/openapi.json").json()
    documented = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    reply = httpx.get(f"{server['url']}/metrics")
    assert reply.headers["content-type"].split(";")[0] in documented


# limits, request ids, access log ---------------------------------------------------------------------
def test_token_buckets_refill_at_the_rate():
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", now=0.0) == pytest.approx(0.5)
    assert buckets.take("other", now=0.0) == 0.0  # each caller has its own bucket
    assert buckets.take("k", now=0.5) == 0.0  # one token back after 1 / rate seconds
    assert TokenBuckets(rate=0, burst=1).take("k") == 0.0  # 0 turns limits off


def test_rate_limits_per_key_answer_429_with_retry_after(tmp_path):
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}",
        "FUNNELCAST_MODELS_DIR": str(tmp_path / "none"),
        "FUNNELCAST_RULES_ONLY": "true",
        "FUNNELCAST_API_KEYS": f"{SCORING_KEY},second-key",
        "FUNNELCAST_ADMIN_KEYS": ADMIN_KEY,
        "FUNNELCAST_RATE_LIMIT_PER_SECOND": "0.5",
        "FUNNELCAST_RATE_LIMIT_BURST": "3",
    }
    proc, url, _ = start_server(env, tmp_path)
    try:
        wait_ready(url)
        body = {"leads": [{"lead": LEAD}]}
        with httpx.Client() as c:
            codes = [c.post(f"{url}/v1/leads/score", json=body, headers=auth()).status_code for _ in range(4)]
            limited = c.post(f"{url}/v1/leads/score", json=body, headers=auth())
            other = c.post(f"{url}/v1/leads/score", json=body, headers=auth("second-key"))
            health = c.get(f"{url}/healthz")
        assert codes == [200, 200, 200, 429]
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 2
        assert other.status_code == 200 and health.status_code == 200
    finally:
        stop(proc)


def test_request_ids_are_echoed_and_the_access_log_is_json_without_personal_data(server):
    url = server["url"]
    body = {
        "leads": [
            {
                "lead": {
                    **LEAD,
                    "lead_id": "L-PRIVATE-7",
                    "company": "保密科技有限公司",
                    "contact_name": "李雷",
                }
            }
        ]
    }
    given = httpx.post(f"{url}/v1/leads/score", json=body, headers={**auth(), "X-Request-ID": "crm-batch-17"})
    made = httpx.post(
        f"{url}/v1/leads/score", json=body, headers={**auth(), "X-Request-ID": "has space; DROP"}
    )
    assert given.headers["x-request-id"] == "crm-batch-17"
    assert made.headers["x-request-id"] != "has space; DROP" and len(made.headers["x-request-id"]) == 32
    time.sleep(0.2)
    log = server["log"].read_text(encoding="utf-8")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"request_id"')]
    mine = [entry for entry in lines if entry["request_id"] == "crm-batch-17"]
    assert len(mine) == 1
    assert mine[0]["route"] == "/v1/leads/score" and mine[0]["status"] == 200 and mine[0]["ms"] > 0
    assert mine[0]["caller"] and mine[0]["caller"] not in SCORING_KEY
    for secret in ("L-PRIVATE-7", "保密科技", "李雷", SCORING_KEY):
        assert secret not in log


# 7. registry corner cases ----------------------------------------------------------------------------
def test_a_corrupt_registered_version_is_refused_not_replaced_by_the_export(
    store, lead_outcome, d20_data, config, tmp_path
):
    from funnelcast.serving.registry import ModelRegistry
    from funnelcast.training.register import register
    from funnelcast.training.tracking import REGISTERED, alias_version, client

    name = REGISTERED["lead"]
    good = alias_version(name, "champion")
    data, report = d20_data
    broken = register(lead_outcome, data, report.files, config).version
    model_id = client().get_model_version(name, broken).source.rsplit("/", 1)[-1]
    stored = next((store["root"] / "mlartifacts").rglob(f"{model_id}/artifacts/artifacts/bundle.joblib"))
    stored.write_bytes(stored.read_bytes()[:100])
    client().set_registered_model_alias(name, "champion", broken)
    try:
        for models_dir in (store["root"] / "models", tmp_path / "no-export"):
            registry = ModelRegistry(ServingSettings(model_source="auto", models_dir=models_dir), config)
            result = registry.reload("lead")
            assert result["result"] == "refused", (models_dir, result)
            assert registry.get("lead") is None and registry.state("lead") in ("refused", "loading")
            assert f"version {broken}" in result["message"]
    finally:
        client().set_registered_model_alias(name, "champion", good)
    # with nothing in the registry the export still stands in (auto mode's purpose)
    client().delete_registered_model_alias(name, "champion")
    try:
        registry = ModelRegistry(
            ServingSettings(model_source="auto", models_dir=store["root"] / "models"), config
        )
        assert registry.reload("lead")["result"] == "swapped"
        assert registry.get("lead").source.startswith("local:")
    finally:
        client().set_registered_model_alias(name, "champion", good)


def test_the_registry_is_read_from_the_home_store_without_mlflow_variables(store, tmp_path):
    """With the store given only by FUNNELCAST_HOME, registered versions load from the registry (the
    logged model used to be looked up in MLflow's default store, and `auto` mode hid it by falling
    back to the export)."""
    env = {
        "MLFLOW_TRACKING_URI": None,
        "FUNNELCAST_HOME": str(store["root"]),
        "FUNNELCAST_MODEL_SOURCE": "registry",
        "FUNNELCAST_MODELS_DIR": str(tmp_path / "no-export"),
    }
    proc, url, log = start_server(env, tmp_path)
    try:
        wait_ready(url)
        sources = {m["kind"]: m["source"] for m in httpx.get(f"{url}/v1/models").json()["models"]}
        assert sources == {"lead": "registry", "opportunity": "registry"}
    finally:
        stop(proc)
