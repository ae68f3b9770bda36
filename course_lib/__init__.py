"""course_lib: the package you build, one notebook at a time.

Each notebook of the course asks you to fill in functions in one module here:

    01 tokenization   -> course_lib.tokenization
    02 embeddings     -> course_lib.embeddings
    03 positional     -> course_lib.positional
    04 attention      -> course_lib.attention
    05 encoder        -> course_lib.encoder
    06 decoder        -> course_lib.decoder
    07 training       -> course_lib.training   (the trained model is handed on by course_lib.pretrained)
    08 fine-tuning    -> course_lib.finetuning
    09 RLHF           -> course_lib.rlhf

`course_lib.data` generates the small story world the course trains on, `course_lib.device`
chooses where tensors live, `course_lib.earlier` lets a later notebook use the reference version
of an earlier module you have not finished, and `course_lib.checks` holds the checks that tell you
whether your code is right (the same checks run in the notebook, in `make check` and in the
autograder).

Importing this package is cheap on purpose: nothing here imports torch or your exercise
modules until you ask for them.
"""

__version__ = "0.1.0"
