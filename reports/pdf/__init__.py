"""PDF rendering of the disclosure and audit reports from plain data."""
