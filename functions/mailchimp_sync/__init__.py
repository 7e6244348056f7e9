"""MailChimp audience sync (out) and MailChimp webhooks (in)."""
