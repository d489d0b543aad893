"""waste-ledger core: signed entries, hash-chained streams, the Merkle log and its rules.

Imports only the standard library, cryptography, rfc8785 and SQLAlchemy (see CONVENTIONS.md).
"""
