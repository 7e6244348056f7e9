"""Code shared by every function of the hub. Ships to Lambda as the shared layer."""
