"""config/leads.yaml: the shipped file validates, a bad one is refused naming the field and reason."""

import pytest

from shared.config_schemas.leads import DEFAULT_LEADS_CONFIG_PATH, load_leads_config
from shared.validation import ConfigDocumentError


def test_shipped_leads_config_validates():
    config = load_leads_config(DEFAULT_LEADS_CONFIG_PATH.read_text())
    assert config.max_body_bytes == 65536
    assert "mailinator.com" in config.spam.blocked_domains


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("employee_bands: []\nrevenue_bands: [{name: a, min: 0}]", "employee_bands", "at least one band"),
        (
            "employee_bands: [{name: a, min: 5}]\nrevenue_bands: [{name: a, min: 0}]",
            "employee_bands",
            "min 0",
        ),
        (
            "employee_bands: [{name: a, min: 0}, {name: b, min: 0}]\nrevenue_bands: [{name: a, min: 0}]",
            "employee_bands",
            "ascending",
        ),
        (
            "employee_bands: [{name: a, min: 0}]\nrevenue_bands: [{name: a, min: 0}]\nrate_limit: {max_requests: 0}",
            "rate_limit.max_requests",
            "greater than or equal",
        ),
        (
            "employee_bands: [{name: a, min: 0}]\nrevenue_bands: [{name: a, min: 0}]\nspam: {typo: 1}",
            "spam.typo",
            "Extra inputs",
        ),
        ("- just a list", "document", "mapping"),
        ("key: [unclosed", "document", "not valid YAML"),
    ],
)
def test_bad_leads_config_names_field_and_reason(text, field, fragment):
    with pytest.raises(ConfigDocumentError) as caught:
        load_leads_config(text)
    assert caught.value.errors[0].field == field
    assert fragment in caught.value.errors[0].message
