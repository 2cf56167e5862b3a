"""When everything happens: a routine compiled to a timeline of cues with sample-exact offsets,
its size checked by arithmetic, fitted to a length, and shown as a plan.
"""
