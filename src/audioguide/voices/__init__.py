"""Speech: every engine behind one small protocol (text in, samples out), the disk cache every
clip goes through, and which voice speaks which language.
"""
