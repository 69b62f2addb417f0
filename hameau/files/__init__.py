"""Files: each member's private space and the household's shared one, over one blob store."""
