"""Reading a distributor profile (config/distributors/<id>.yaml), and the profile used where there is none.

The schema, `DistributorProfile`, is `shared.config_schemas.distributors` (the validator checks uploads with it).
"""

from __future__ import annotations

from typing import Literal

from shared.config_schemas.distributors import DistributorProfile


class ProfileError(ValueError):
    """A profile document that does not validate; the message names the field and the reason."""


def default_profile(distributor_id: str, kind: Literal["sell_through", "inventory"]) -> DistributorProfile:
    """The profile used where a distributor has none: detect everything."""
    safe_id = "".join(c for c in distributor_id.lower() if c.isalnum() or c in "_-")[:64] or "unknown"
    return DistributorProfile(id=safe_id, kind=kind)


def parse_profile(text: str | bytes, expected_id: str | None = None) -> DistributorProfile:
    """Validate a profile YAML document; ProfileError names each bad field and why."""
    import yaml
    from pydantic import ValidationError

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProfileError(f"not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ProfileError("a profile is a mapping of fields")
    if expected_id is not None:
        document.setdefault("id", expected_id)
    try:
        profile = DistributorProfile.model_validate(document)
    except ValidationError as error:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'profile'}: {item['msg']}" for item in error.errors()
        )
        raise ProfileError(reasons) from error
    if expected_id is not None and profile.id != expected_id:
        raise ProfileError(f"id: {profile.id!r} does not match the file name {expected_id!r}")
    return profile
