"""The local hub: the whole hub on this machine, no AWS account and no Docker."""
