"""The director over HTTP: the real openai client and ChatOpenAI against a scripted fake of the
OpenAI chat-completions API on loopback, answering each request with the next scripted reply."""

from __future__ import annotations

import logging

import pytest

from agents.director import Director
from agents.llm import LLMConfig, create_chat_model
from agents.model_errors import BadModelOutput, ModelRefused, ModelUnavailable
from agents.tools import ToolContext
from storage import conversation, episodes, plan, projects
from tests.fake_openai import API_KEY, FAST_RETRY, FakeOpenAI, Reply, call, error, slow, text
from tests.fakes import gong_gong_plan


@pytest.fixture
def context(fresh_db) -> ToolContext:
    project = projects.create_project(fresh_db, "Gong Gong", writers_channel_id=5)
    return ToolContext(fresh_db, project.id, user_id=42, is_director=False)


def director(
    fake: FakeOpenAI, *, mode: str = "tools", timeout: float = 5.0, max_retries: int = 2
) -> Director:
    config = LLMConfig(
        base_url=fake.url,
        api_key=API_KEY,
        model="test-model",
        timeout=timeout,
        max_retries=max_retries,
    )
    return Director(create_chat_model(config), mode=mode)  # type: ignore[arg-type]


async def run(agent: Director, context: ToolContext, entry: str) -> object:
    if entry == "write_plan":
        return await agent.write_plan(context, "A mortal defies Gong Gong")
    return await agent.reply(context, "A mortal defies Gong Gong", "ana")


def assert_nothing_stored(context: ToolContext) -> None:
    for table in ("episodes", "scenes", "shots", "characters", "messages"):
        assert context.db.table(table).count == 0, table


def roles(context: ToolContext) -> list[str]:
    return [m.role for m in conversation.recent_messages(context.db, context.project_id)]


async def test_rate_limits_and_server_errors_are_retried_by_the_client(endpoint, context):
    endpoint.answer(
        error(429, "slow down", {"retry-after": "0.05"}),
        error(429, "slow down", {"retry-after": "0.05"}),
        call("write_episode_plan", {"plan": gong_gong_plan()}),
        error(503, "overloaded", FAST_RETRY),
        text("Here is a first plan: four shots."),
    )
    answer = await director(endpoint).reply(context, "A mortal defies Gong Gong", "ana")
    assert answer == "Here is a first plan: four shots."
    # the openai client numbers its own retries: two model calls, retried 2 and 1 times
    assert endpoint.retry_counts() == ["0", "1", "2", "0", "1"]
    episode = episodes.current_episode(context.db, context.project_id)
    assert episode is not None and len(plan.list_shots(context.db, episode.id)) == 4
    assert roles(context) == ["user", "assistant"]


@pytest.mark.parametrize("entry", ["reply", "write_plan"])
async def test_server_errors_past_the_retries_change_nothing(endpoint, context, entry):
    endpoint.answer(error(500, headers=FAST_RETRY), error(503), error(502, headers=FAST_RETRY))
    with pytest.raises(ModelUnavailable) as raised:
        await run(director(endpoint), context, entry)
    assert str(raised.value) == "The model is not answering; nothing was changed."
    assert len(endpoint.requests) == 3
    assert_nothing_stored(context)


async def test_a_slow_endpoint_times_out_and_the_retry_answers(endpoint, context):
    endpoint.answer(slow(), text("Sorry for the wait."))
    agent = director(endpoint, timeout=0.3, max_retries=1)
    assert await agent.reply(context, "hello", "ana") == "Sorry for the wait."
    assert endpoint.retry_counts() == ["0", "1"]


async def test_an_endpoint_that_stays_slow_changes_nothing(endpoint, context):
    endpoint.answer(slow(), slow())
    with pytest.raises(ModelUnavailable, match="not answering; nothing was changed"):
        await director(endpoint, timeout=0.3, max_retries=1).reply(context, "hello", "ana")
    assert len(endpoint.requests) == 2
    assert_nothing_stored(context)


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, f"Incorrect API key provided: {API_KEY}", "check OPENAI_API_KEY"),
        (400, "this model does not support tools", "check SHOWRUNNER_LLM_MODEL"),
    ],
    ids=["401-bad-key", "400-no-tools"],
)
async def test_refusals_are_not_retried_and_never_show_the_key(
    endpoint, context, caplog, status, message, hint
):
    caplog.set_level(logging.DEBUG)
    endpoint.answer(error(status, message))
    with pytest.raises(ModelRefused) as raised:
        await director(endpoint).reply(context, "hello", "ana")
    assert str(raised.value).startswith(f"The LLM endpoint refused the request (HTTP {status}): ")
    assert hint in str(raised.value) and "Nothing was changed." in str(raised.value)
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in str(raised.value) and API_KEY not in caplog.text
    assert_nothing_stored(context)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess'),
        Reply(body=b"<html>502 Bad Gateway</html>", content_type="text/html"),
        Reply(body=b'{"object": "list", "data": []}'),
    ],
    ids=["truncated-json", "html", "no-choices"],
)
@pytest.mark.parametrize("entry", ["reply", "write_plan"])
async def test_a_broken_body_is_a_clear_error_and_changes_nothing(endpoint, context, reply, entry):
    endpoint.answer(reply)
    with pytest.raises(ModelUnavailable) as raised:
        await run(director(endpoint), context, entry)
    assert str(raised.value) == "The model's endpoint sent a broken answer; nothing was changed."
    assert_nothing_stored(context)


@pytest.mark.parametrize(
    "bad_arguments",
    ['{"title": "Defying", "scenes": [', {"title": 7, "scenes": "lots"}],
    ids=["not-json", "wrong-schema"],
)
async def test_invalid_plan_output_gets_one_repair_request(endpoint, context, bad_arguments):
    endpoint.answer(call("EpisodeDraft", bad_arguments), call("EpisodeDraft", gong_gong_plan()))
    episode = await director(endpoint).write_plan(context, "A mortal defies Gong Gong")
    assert episode.title == "Defying Gong Gong"
    assert len(plan.list_shots(context.db, episode.id)) == 4
    assert len(endpoint.requests) == 2
    repair = endpoint.messages(1)[-1]
    assert repair["role"] == "user" and "did not match the schema" in repair["content"]


async def test_invalid_plan_output_twice_is_a_clear_error(endpoint, context):
    garbage = call("EpisodeDraft", {"title": 7, "scenes": "lots"})
    endpoint.answer(garbage, garbage)
    with pytest.raises(BadModelOutput, match="not a valid plan; nothing was changed"):
        await director(endpoint).write_plan(context, "A mortal defies Gong Gong")
    assert len(endpoint.requests) == 2
    assert_nothing_stored(context)


async def test_invalid_structured_turn_is_repaired_in_structured_mode(endpoint, context):
    turn = {"reply": "Plan written.", "action": "write_plan", "plan": gong_gong_plan((3, 2))}
    endpoint.answer(call("DirectorTurn", '{"reply": "Plan'), call("DirectorTurn", turn))
    answer = await director(endpoint, mode="structured").reply(context, "premise", "ana")
    assert answer.startswith("Plan written.") and "5 shots" in answer
    assert len(endpoint.requests) == 2 and roles(context) == ["user", "assistant"]


async def test_tool_arguments_that_are_not_json_go_back_to_the_model(endpoint, context):
    endpoint.answer(
        call("write_episode_plan", '{"plan": {"title": ', call_id="call_7"),
        text("Sorry, that plan got cut off."),
    )
    answer = await director(endpoint).reply(context, "premise", "ana")
    assert answer == "Sorry, that plan got cut off."
    tool_message = endpoint.messages(1)[-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_7"
    assert "not valid JSON" in tool_message["content"]
    assert episodes.current_episode(context.db, context.project_id) is None


async def test_a_failure_after_a_tool_wrote_keeps_the_changes_and_says_so(endpoint, context):
    endpoint.answer(
        call("write_episode_plan", {"plan": gong_gong_plan()}),
        *[error(500, headers=FAST_RETRY)] * 3,
    )
    with pytest.raises(ModelUnavailable) as raised:
        await director(endpoint).reply(context, "A mortal defies Gong Gong", "ana")
    message = "The model stopped answering; the changes made so far are saved."
    assert str(raised.value) == message and raised.value.changes_saved
    assert len(endpoint.requests) == 4
    episode = episodes.current_episode(context.db, context.project_id)
    assert episode is not None and len(plan.list_shots(context.db, episode.id)) == 4
    # the history explains the new plan: the request, and the failure as the answer
    stored = conversation.recent_messages(context.db, context.project_id)
    assert [(m.role, m.content) for m in stored] == [
        ("user", "A mortal defies Gong Gong"),
        ("assistant", message),
    ]
