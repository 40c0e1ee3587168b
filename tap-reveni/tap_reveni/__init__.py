"""tap-reveni: Reveni returns as Singer records."""
