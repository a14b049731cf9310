"""The replicated state machines served by nodes: config and shard roles."""
