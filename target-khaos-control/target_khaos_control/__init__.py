"""target-khaos-control: Reveni returns as Khaos Control customer returns, and the channel Khaos pulls them from."""
