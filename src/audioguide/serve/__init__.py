"""The two servers: `serve` faces clients (release and revocation at each request, events in
SQLite, the report); `studio` faces one practitioner writing a routine by ear (studio*.py).
"""
