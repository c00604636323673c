"""Invoices: issued by cashiers, paid or cancelled."""
