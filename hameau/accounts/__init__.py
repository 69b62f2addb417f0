"""Members, credentials, roles, sessions, devices and workspace state."""
