"""Trigger machinery: webhooks, schedules (and polling, later)."""
