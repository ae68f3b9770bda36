"""The instructor's tooling: building the student views, grading a class, hidden checks and mutants.

    python -m grading build [--check]                      regenerate what students receive
    python -m grading release ASSIGNMENT --out D           nbgrader's student release of one assignment
    python -m grading grade ASSIGNMENT SUBMISSIONS --out D  grade a class headless with nbgrader
"""
