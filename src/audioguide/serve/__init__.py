"""The servers: the client-facing one and the local studio, where a practitioner edits a routine,
sees its plan as they type, hears any step, and saves, builds and shares it (serve/studio*.py).
"""
