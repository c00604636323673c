"""What the invoices module publishes for other services."""
