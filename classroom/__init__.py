"""Classroom tools: student versions of the chapters and an autograder (nbgrader-compatible, nbformat only).

    python -m classroom.release            # write student/NN_topic.ipynb for every chapter
    python -m classroom.grade NOTEBOOK ...  # execute submissions and score their exercises

See docs/teaching.md.
"""
