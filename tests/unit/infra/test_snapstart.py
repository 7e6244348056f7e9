"""SnapStart is one template parameter: off by default; on, every function snapshots its published versions,
and the alias that the routes, streams, queues and schedules invoke is published on each deploy either way."""

from __future__ import annotations

from typing import Any

from tests.unit.infra.test_template import resources_of, translated


def test_snapstart_parameter_is_off_by_default_and_applies_to_published_versions():
    # Given the template as CloudFormation sees it
    template = translated()
    # Then the parameter is there, off by default, and drives each function's SnapStart
    assert template["Parameters"]["SnapStart"]["Default"] == "false"
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "true"]}
    functions = resources_of("AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        assert function["Properties"]["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}
        }


def test_every_function_has_the_published_alias_live_and_its_triggers_invoke_it():
    # Given the template as CloudFormation sees it
    aliases = resources_of("AWS::Lambda::Alias")
    functions = resources_of("AWS::Lambda::Function")
    # Then each function has its alias "live" on a published version
    assert sorted(a["Properties"]["FunctionName"]["Ref"] for a in aliases.values()) == sorted(functions)
    assert {a["Properties"]["Name"] for a in aliases.values()} == {"live"}
    # And the stream and queue mappings invoke the alias, not the unpublished function
    mappings = resources_of("AWS::Lambda::EventSourceMapping").values()
    targets: list[Any] = [m["Properties"]["FunctionName"] for m in mappings]
    assert targets and all(t.get("Ref") in aliases for t in targets), targets
