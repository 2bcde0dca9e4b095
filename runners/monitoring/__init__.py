"""What production traffic says about the served model: training/serving skew of the logged requests."""
