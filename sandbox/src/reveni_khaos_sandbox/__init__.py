"""Local servers that act as Reveni and as Khaos Control Cloud, for demos and tests."""
