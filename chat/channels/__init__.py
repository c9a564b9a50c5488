"""The domain: conversations, topics, messages, membership, access policy, events."""
