"""course_lib: the package you build, one notebook at a time.

Each notebook of the course asks you to fill in functions in one module here:

    01 tokenization   -> course_lib.tokenization
    02 embeddings     -> course_lib.embeddings
    03 positional     -> course_lib.positional

`course_lib.data` generates the small story world the course trains on, `course_lib.device`
chooses where tensors live, and `course_lib.checks` holds the checks that tell you whether your
code is right (the same checks run in the notebook, in `pytest` and in the autograder).

Importing this package is cheap on purpose: nothing here imports torch or your exercise
modules until you ask for them.
"""

__version__ = "0.1.0"
