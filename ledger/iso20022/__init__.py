"""ISO 20022 schemas shipped as package data."""
