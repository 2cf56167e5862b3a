"""The client-facing server: a program's site served with release and revocation decided at each
request, every feed fetch, download and play recorded in SQLite, and the report read from them.
"""
