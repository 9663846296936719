"""Media helpers for prospect-facing previews: name-card overlays, posters, animated previews."""
