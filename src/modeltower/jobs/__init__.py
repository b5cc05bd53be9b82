"""Background jobs started and stopped with the application."""
