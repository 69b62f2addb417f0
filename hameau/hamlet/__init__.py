"""The hamlet: homes whose nodes paired with each other, and their signed requests."""
