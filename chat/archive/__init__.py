"""The audit archive: hash chain, verification, exports."""
