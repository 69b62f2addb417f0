"""Calendars and contacts: Radicale inside the node, and the agenda and contacts pages."""
