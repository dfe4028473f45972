"""Process plumbing: configuration, logging, metrics, the Temporal client, the payload codec, the clock."""
