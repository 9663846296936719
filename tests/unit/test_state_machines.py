"""The state machines' ``${Placeholder}`` substitution, shared by CDK and the local stack."""

from __future__ import annotations

import pytest

from state_machines import MissingPlaceholderError, function_placeholder, placeholders, substitute


def test_substitute_all_or_fail() -> None:
    text = '{"Resource": "${LoadCampaignFunctionArn}", "Bucket": "${MediaBucket}"}'
    assert placeholders(text) == {"LoadCampaignFunctionArn", "MediaBucket"}
    out = substitute(text, {"LoadCampaignFunctionArn": "arn:x", "MediaBucket": "b", "Unused": "u"})
    assert out == '{"Resource": "arn:x", "Bucket": "b"}'
    with pytest.raises(MissingPlaceholderError, match="MediaBucket"):
        substitute(text, {"LoadCampaignFunctionArn": "arn:x"})
    # JSONPath's own "$.x" and intrinsic "States.Format('{}')" are not placeholders
    assert placeholders('{"a.$": "$.b", "c.$": "States.Format(\'{}\', $.d)"}') == set()


def test_function_placeholder() -> None:
    assert function_placeholder("load_campaign") == "LoadCampaignFunctionArn"
