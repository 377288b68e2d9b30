"""Recordings on the server side: reading, exporting and summarising ``.dsrec`` files."""
