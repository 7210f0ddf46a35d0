"""`wa-addon templates [--submit]`: the Cloud API templates, as Meta files them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import GRAPH_TOKEN

from wa_addon.cli import main
from wa_addon.messages import Outbound
from wa_addon.notifications import PARAMS
from wa_addon.testing.fake_templates import invalid
from wa_addon.transports.cloud import build_body
from wa_addon.transports.cloud_templates import BODIES, definitions, placeholders

WABA = "2233445566"


@pytest.mark.parametrize("lang", ["bn", "en"])
def test_every_message_with_template_parameters_has_a_template_meta_would_take(lang):
    found = {t["name"]: t for t in definitions(lang)}
    assert set(found) == set(PARAMS)  # each message the outbox may send as a template
    for name, template in found.items():
        assert invalid(template) == "", name
        assert template["language"] == lang
        if name != "otp":
            assert placeholders(BODIES[name][lang]) == list(range(1, len(PARAMS[name]) + 1)), name


def test_the_fake_refuses_what_meta_refuses():
    body = {"type": "BODY", "text": "{{1}} added", "example": {"body_text": [["5"]]}}
    template = {"name": "x", "language": "en", "category": "UTILITY", "components": [body]}
    assert "start or end" in invalid(template)
    assert "lowercase" in invalid({**template, "name": "Bad Name"})
    body["text"] = "Added {{1}} and {{3}}."
    assert "in order" in invalid(template)


def test_templates_prints_both_languages_as_json():
    result = CliRunner(env={"WA_CLOUD_TOKEN": ""}).invoke(main, ["templates"])
    assert result.exit_code == 0
    printed = json.loads(result.output)
    assert len(printed) == 2 * len(PARAMS) and {t["language"] for t in printed} == {"bn", "en"}
    assert "নতুন অনুরোধ" in result.output  # Bengali as text, not \\u escapes


def test_submit_files_every_template_once_on_the_fake_graph(graph):
    env = {"WA_CLOUD_TOKEN": GRAPH_TOKEN, "WA_CLOUD_WABA_ID": WABA, "WA_CLOUD_GRAPH_URL": graph.url}
    first = CliRunner(env=env).invoke(main, ["templates", "--submit"])
    assert first.exit_code == 0, first.output
    assert len(graph.templates.filed) == 2 * len(PARAMS) and first.output.count("PENDING") == 2 * len(PARAMS)
    assert (WABA, "notify_balance_added", "bn") in graph.templates.filed
    assert "WA_CLOUD_TEMPLATES=message:message,notify_balance_added:notify_balance_added" in first.output
    again = CliRunner(env=env).invoke(main, ["templates", "--submit", "--lang", "en"])
    assert again.exit_code == 0 and again.output.count("exists already") == len(PARAMS)
    wrong = CliRunner(env={**env, "WA_CLOUD_TOKEN": "nope"}).invoke(main, ["templates", "--submit"])
    assert wrong.exit_code == 1 and "error.code 190" in wrong.output and "nope" not in wrong.output


def test_submit_needs_the_token_and_the_business_account():
    result = CliRunner(env={"WA_CLOUD_TOKEN": "", "WA_CLOUD_WABA_ID": ""}).invoke(main, ["templates", "--submit"])
    assert result.exit_code == 2 and "WA_CLOUD_TOKEN, WA_CLOUD_WABA_ID" in result.output


def test_a_one_time_code_fills_the_copy_code_button_too(graph):
    import requests

    msg = Outbound(
        id="o1",
        to="8801822222222",
        text="123456 is your code",
        kind="notify.otp",
        mode="template",
        template="otp",
        params=["123456"],
        language="bn",
    )
    components = build_body(msg)["template"]["components"]
    assert components[1] == {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "123456"}],
    }
    url = f"{graph.url}/v21.0/{graph.phone_number_id}/messages"
    resp = requests.post(url, json=build_body(msg), headers={"Authorization": f"Bearer {GRAPH_TOKEN}"}, timeout=5)
    assert resp.status_code == 200 and graph.sent_to("8801822222222") == ["template:otp 123456"]
