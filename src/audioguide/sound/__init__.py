"""Everything heard besides the words, and the mix: built-in sounds and sound files, beds, the
breathing pacer, loudness (meter, true peak, limiter), and the mixer that streams a timeline.
"""
