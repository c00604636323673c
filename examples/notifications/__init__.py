"""The notifications service: emails cashiers about what happens in app-domain."""
