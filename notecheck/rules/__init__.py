"""Rule profiles and context modifiers shipped as data (TOML)."""
