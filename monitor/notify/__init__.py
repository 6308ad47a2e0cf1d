"""Delivery of digests: email over SMTP and JSON webhooks."""
