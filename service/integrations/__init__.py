"""Helpdesk integrations: signed webhooks in through a durable inbox, route decisions written back."""
