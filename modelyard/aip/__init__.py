"""The AIP toolkit: filtering (AIP-160), ordering (AIP-132), field masks (AIP-157/161), page tokens (AIP-158).

Framework-free and database-free: everything here works on strings and the declared schema in
:mod:`modelyard.aip.schema`.
"""
