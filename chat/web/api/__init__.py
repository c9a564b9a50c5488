"""REST endpoints under /api/v1, one module per noun; each exports ``routes``."""
