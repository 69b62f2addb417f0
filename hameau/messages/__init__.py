"""Messages: threads between members of the household, with unread counts and live updates."""
