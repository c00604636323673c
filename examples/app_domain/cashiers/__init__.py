"""Cashiers: the people who issue invoices."""
