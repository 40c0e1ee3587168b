"""The commands people run around the pipeline: `reveni-khaos` (cli), replay, reconciliation,
listing exceptions, and the consultants' rules tools. No web stack: `serve` alone needs the
`channel` extra."""
