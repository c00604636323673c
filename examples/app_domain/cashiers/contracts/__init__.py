"""What the cashiers module publishes for other services."""
