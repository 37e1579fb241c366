"""Batch grading behind `python -m vaecourse.grade`, one module per step.

submission: read a file, recognise its assignment, drop the released check cells.
execute:    run it in a fresh kernel with time and output limits, then run the released checks.
worker:     the subprocess that runs one submission (so nothing it does can stop the grader).
report:     CSV rows, status text and the feedback file for each submission.
"""
