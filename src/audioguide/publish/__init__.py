"""What leaves the machine: the MP3 with its tags and chapters, and every file beside it
(companions, split parts, share page, handout, PDF, QR codes, cover, feed, subscribe page).
"""
