"""Rules: a safe expression language, versioned YAML rule packs, and their evaluation."""
