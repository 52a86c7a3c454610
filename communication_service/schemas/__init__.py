"""Marshmallow schemas: every input is validated here, every output dumped here."""
