"""Web Push: the server's VAPID key pair, browsers' subscriptions, and delivery (pywebpush)."""
