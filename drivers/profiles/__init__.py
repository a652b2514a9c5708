"""Device profiles shipped as data (TOML): register maps, serial protocols, log patterns."""
