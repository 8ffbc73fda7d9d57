"""Provider-neutral chat completion types, errors and the per-vendor adapters."""
