"""Property-based API test: schemathesis generates requests from /api/schema/ and runs them in-process."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from hypothesis import HealthCheck, Phase, settings
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from apps.keys.models import AccessToken
from apps.keys.tokens import hash_token
from tests.factories import make_task, make_user
from tests.schema_rules import data_dependent_reason




@pytest.fixture
def keep_test_connection():
    """Django's test client stops requests from closing the test transaction's connection; do the same here."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# A token known before any test runs: schemathesis builds some cases while collecting, and each
# case's credentials are set when it is built. Each test stores this token's hash for its own user.
TOKEN_KEY_ID = "schemathesis"
TOKEN = f"tda_{TOKEN_KEY_ID}_{'S' * 43}"


@pytest.fixture
def api_user(db, keep_test_connection):
    user = make_user("schemathesis")
    for i in range(3):
        make_task(user, title=f"seed {i}")
    AccessToken.objects.create(user=user, name="schemathesis", key_id=TOKEN_KEY_ID, token_hash=hash_token(TOKEN))
    return user


# pytest-django has configured Django before collection, so the schema can load at import time
# (schemathesis.pytest.from_fixture does not work with pytest 9). Loading it needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@schema.auth()
class BearerToken:
    """Credentials through schemathesis' own auth hook, so it stops generating (and mutating)
    Authorization headers that a blanket header override would then quietly replace."""

    def get(self, case, ctx):
        return TOKEN

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "40")),
    # CI must not flake on a seed; local runs keep exploring (set CI=true to replay CI's examples).
    derandomize=os.environ.get("CI") == "true",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema_and_never_errors(case, api_user, providers_at_fake):
    excluded = []
    if any(value is None for value in (case.query or {}).values()):
        # A JSON null in a query string goes on the wire as the text "null", which is valid
        # wherever text is; schemathesis still counts it as invalid data.
        excluded.append(negative_data_rejection)
    response = case.call()
    if data_dependent_reason(case.method, case.path, response.status_code, response.content):
        # Valid per the schema but refused for what the database holds (an unconfigured provider,
        # a model it does not offer: tests/schema_rules.py, matched by the server's own message).
        excluded.append(positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded)
    if (case.headers or {}).get("Authorization") == f"Bearer {TOKEN}":
        # Guards the coverage of the authenticated path: our own token must always be accepted.
        assert response.status_code != 401, "the test's access token was refused"


# -- stateful: links between operations (create -> read -> update -> delete) ---------------------------
#
# schemathesis infers the links from the schema itself (its dependency analysis matches a
# response's `id` to the path parameter of the operations on that resource: POST /tasks/ ->
# GET/PUT/PATCH/DELETE /tasks/{task_id}/, GET /tasks/ -> the same from `results/*/id`, and so on).
# One state machine per resource, over its collection and items: among all 43 operations' rules a
# random walk seldom takes three links in a row on one resource. The stateless run above covers
# every operation, and the live runs (tests/test_openapi_live.py, tests/stack) run schemathesis'
# whole stateful phase over all of them.
CRUD_RESOURCES = {  # collection -> its item path
    "/api/v1/tasks/": "/api/v1/tasks/{task_id}/",
    "/api/v1/lists/": "/api/v1/lists/{list_id}/",
    "/api/v1/keys/": "/api/v1/keys/{key_id}/",
}
STAGES = {"GET": "read", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
CONFIGURED_PROVIDERS = ("openai", "anthropic")


def _keys_of_configured_providers(context, strategy):
    # A key can only be stored for a provider an operator configured (tests/schema_rules.py): the
    # schema cannot say which, so without this nearly every POST /keys/ is a 400 and the keys'
    # links are never followed. A third of the bodies keep the generated name (the refusal).
    operation = context.operation
    if operation is None or (operation.method.upper(), operation.path) != ("POST", "/api/v1/keys/"):
        return strategy

    def configured(body, provider):
        return {**body, "provider": provider} if isinstance(body, dict) and provider else body

    return st.tuples(strategy, st.sampled_from((*CONFIGURED_PROVIDERS, None))).map(lambda pair: configured(*pair))


class RecordingWorkflow:
    """Mixed into each resource's state machine: records, per created id, the stages links brought it to."""

    chains: list[list[str]]  # the stages of each created id, in order: ["create", "read", ...]
    followed: set[tuple[str, str, int]]  # (from, to, status) of every link whose values were applied
    failures: list[str]

    def setup(self) -> None:
        # Each scenario starts from the same rows (the fixture's), as Hypothesis assumes: a scenario
        # whose rules depended on rows left by earlier ones would replay differently (Flaky...).
        self.savepoint = transaction.savepoint()
        self.created: dict[object, list[str]] = {}

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    def step(self, input):
        output = super().step(input)
        case, status = input.case, output.response.status_code
        if input.transition is not None and input.is_applied:
            self.followed.add((input.transition.id.split(" -> ")[0], case.operation.label, status))
        path, method = case.operation.path, case.operation.method.upper()
        if method == "POST" and path in CRUD_RESOURCES and status == 201:
            self.created[output.response.json()["id"]] = stages = ["create"]
            self.chains.append(stages)
        elif path in CRUD_RESOURCES.values() and method in STAGES and 200 <= status < 300 and input.is_applied:
            (value,) = (case.path_parameters or {}).values()
            stages = self.created.get(value)
            if stages is not None and stages[-1] != "delete":
                stages.append(STAGES[method])
        return output

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        # Failures are collected, not raised, as schemathesis' own engine does: a failing example
        # makes Hypothesis replay it, and a replay that draws differently (schemathesis feeds what
        # it saw back into generation) is reported as FlakyStrategyDefinition instead of the failure.
        excluded = []
        if data_dependent_reason(case.method, case.path, response.status_code, response.content):
            excluded.append(positive_data_acceptance)
        if any(value is None for value in (case.query or {}).values()):
            excluded.append(negative_data_rejection)  # a JSON null in a query string is the text "null"
        try:
            case.validate_response(response, excluded_checks=excluded, additional_checks=additional_checks)
        except Exception as exc:  # schemathesis' FailureGroup of every failed check
            self.failures.append(f"{case.operation.label} -> {response.status_code}: {exc}"[:2000])
        if (case.headers or {}).get("Authorization") == f"Bearer {TOKEN}" and response.status_code == 401:
            self.failures.append(f"{case.operation.label}: the test's access token was refused")


def _workflow(collection: str) -> type:
    # The collection and its items only (complete/, validate/, ... are left to the runs named above).
    resource_schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()).include(
        path_regex="^" + collection + r"(\{[a-z_]+\}/)?$"
    )
    resource_schema.auth()(BearerToken)
    resource_schema.hook("before_generate_body")(_keys_of_configured_providers)
    name = "Workflow" + collection.strip("/").split("/")[-1].title()
    machine = type(name, (RecordingWorkflow, resource_schema.as_state_machine()), {})
    machine.chains, machine.followed, machine.failures = [], set(), []
    return machine


WORKFLOWS = {collection: _workflow(collection) for collection in CRUD_RESOURCES}


@pytest.mark.parametrize("collection", list(CRUD_RESOURCES))
def test_linked_operations_create_read_update_and_delete_a_resource_and_never_error(
    collection, api_user, providers_at_fake, settings
):
    settings.KEY_CREATE_RATE_LIMIT = "100000/m"  # the scenarios create keys far faster than a person
    machine = WORKFLOWS[collection]
    machine.chains.clear(), machine.followed.clear(), machine.failures.clear()
    machine.run(
        settings=hypothesis_settings(
            max_examples=int(os.environ.get("SCHEMATHESIS_STATEFUL_EXAMPLES", "40")),
            stateful_step_count=12,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),  # nothing to shrink: failures are collected
            derandomize=True,  # the coverage below must hold on every run; SCHEMATHESIS_STATEFUL_EXAMPLES explores more
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert machine.failures == [], "\n\n".join(machine.failures[:5])
    chains = machine.chains
    longest = max(chains, key=len, default=[])
    print(f"\n{collection}: {len(machine.followed)} links followed, {len(chains)} created, e.g. {' -> '.join(longest)}")
    # Ids that POST created were read, updated and deleted through links (a response's values in
    # the next request), and one created id went create -> read -> update -> delete.
    assert {"read", "update", "delete"} <= {stage for chain in chains for stage in chain}, chains
    assert any(
        chain[-1] == "delete" and "read" in chain and "update" in chain for chain in chains
    ), sorted(chains, key=len)[-5:]


def test_every_operation_lists_each_security_scheme_once(client_a):
    document = client_a.get("/api/schema/?format=json").json()
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            schemes = [name for requirement in operation.get("security", []) for name in requirement]
            assert schemes == ["bearerAuth", "cookieAuth"], f"{method.upper()} {path}: {schemes}"


def _schema_of(document, component: str, field: str) -> dict:
    return document["components"]["schemas"][component]["properties"][field]


@pytest.mark.parametrize(
    "key, accepted",
    [
        ("sk-valid-key-0001", True),
        ("  sk-trimmed-0002\n", True),  # surrounding ASCII whitespace is trimmed
        ("sk-with space-0003", False),
        ("sk-nön-ascii-0004", False),
        ("sk-tab\tinside-05", False),
        ("short", False),
        ("   sk-1234   ", False),  # 7 characters once trimmed
    ],
)
def test_the_key_fields_schema_pattern_admits_exactly_what_the_server_accepts(client_a, providers_at_fake, key, accepted):
    import re

    document = client_a.get("/api/schema/?format=json").json()
    rules = _schema_of(document, "ProviderKeyCreateRequest", "key")
    matches = rules["minLength"] <= len(key) <= rules["maxLength"] and re.search(rules["pattern"], key) is not None
    response = client_a.post("/api/v1/keys/", {"provider": "openai", "key": key}, format="json")
    assert matches is accepted
    assert (response.status_code == 201) is accepted, response.json()


def test_the_chat_messages_schema_states_the_servers_length_limit(client_a, settings):
    document = client_a.get("/api/schema/?format=json").json()
    assert _schema_of(document, "ChatInputRequest", "message")["maxLength"] == settings.CHAT_MESSAGE_MAX_CHARS == 4000
    response = client_a.post("/api/v1/chat/", {"message": "x" * 4001}, format="json")
    assert response.status_code == 400 and "message" in response.json()["error"]["extra"]["fields"]


def test_every_operation_declares_its_error_responses(client_a):
    document = client_a.get("/api/schema/?format=json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"401", "405"} <= declared, f"{method.upper()} {path} lacks error responses"
            if "{" in path:
                assert {"400", "404"} <= declared, f"{method.upper()} {path} lacks 400/404"


@pytest.mark.parametrize("accept", ["^>&gn]l", "text/html"])
def test_an_accept_header_naming_nothing_renderable_is_disregarded(client_a, accept):
    # Schemathesis found it: an unparseable Accept header was answered 406, which no operation declares.
    listed = client_a.get("/api/v1/keys/", HTTP_ACCEPT=accept)
    assert listed.status_code == 200 and listed["Content-Type"] == "application/json"
    refused = client_a.post("/api/v1/keys/", {}, content_type="application/json", HTTP_ACCEPT=accept)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "validation_error"
