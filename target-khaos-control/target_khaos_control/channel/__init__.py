"""The channel Khaos Control pulls returns from and pushes stock to, with its dashboard:
the web service (`app`), the feed and its continuation (`feed`), what Khaos pushes
(`pushes`), Khaos's XML (`khaos_xml`) and the dashboard. Needs the `channel` extra
(`pip install target-khaos-control[channel]`)."""
