"""Storage: typed models, the Database (engine, sessions, transactions) and migrations."""
