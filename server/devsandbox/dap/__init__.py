"""The DAP proxy: IDE <-> devsandbox <-> debugpy's adapter."""
