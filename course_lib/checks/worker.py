"""The worker process of the grader: runs one student's code and answers the judge's requests.

    python -I -c "..." IN_FD OUT_FD      (started by `grading.sandbox`, never by hand)

It imports torch and the course's own modules first (trusted), then reads the first frame:
``{"modules": {"attention": "<source>", ...}, "order": [...]}``, the student's files sent by
the judge as *text* (the worker never reads the submissions folder), installs each one as
``course_lib.<name>``, reports which imports failed, and then answers requests (see
`course_lib.checks.remote.Worker`) until the judge closes the pipe. Everything it sends is
data that the judge decodes without pickle; nothing here decides a grade.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    in_fd, out_fd = int(argv[0]), int(argv[1])
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch  # noqa: F401 - imported before any student code, with one thread

    torch.set_num_threads(1)
    import course_lib  # noqa: F401
    from course_lib.checks import framework  # noqa: F401 - the probes' helpers, before student code
    from course_lib.checks.remote import (
        Worker,
        _Decoder,
        _exception_data,
        install_module,
        pack,
        read_frame,
        serve,
        unpack,
        write_all,
    )

    document, tensors = unpack(read_frame(in_fd, None))
    hello = _Decoder(tensors).decode(document)
    modules: dict[str, object] = {}
    files: set[str] = set()
    module_sources = dict(hello["modules"])
    order = list(hello["order"])
    failures = {}
    for name in order:
        filename = f"course_lib/{name}.py"
        files.add(filename)
        try:
            modules[name] = install_module(name, module_sources[name], filename)
        except BaseException as err:  # noqa: BLE001 - SystemExit at import is an import failure too
            modules[name] = err
            failures[name] = err
    worker = Worker(modules, module_files=files)
    report = {name: (_exception_data(failures[name], files) if name in failures else None) for name in order}
    document, tensors = worker.encode({"ok": report})
    write_all(out_fd, pack(document, tensors))
    serve(worker, in_fd, out_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
