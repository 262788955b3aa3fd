"""Notifications: policies, the outbox, the sender and its channels (issue 14)."""
