"""The student's hand-in: ``python handin.py`` in the released folder.

Runs every tester notebook fresh, writes ``<assignment>_handin.zip`` (the
upload: notebooks and the library, checked to unpack as the grader expects)
and ``<assignment>_handin.pdf`` (cover with a summary, every notebook with
its outputs and rendered math, then the student's library files).

Shipped to students: it imports only the student requirements (nbclient,
nbconvert, pygments, jupyter-server-mathjax) and the standard library.
"""
