"""Feedback that students can keep: what failed and why, without the hidden tests.

nbgrader's `ClearHiddenTests` removes hidden test code from the cells, but an error's traceback
quotes the failing cell's source again (hidden lines included). `ShortenTracebacks` keeps only
the last line of every error ("CheckFailed: tokenization.merge_pair: ..."), which is the
learner-facing message the course's checks write.
"""

from nbconvert.preprocessors import Preprocessor


class ShortenTracebacks(Preprocessor):
    """Replace each error output's traceback by its final 'Name: message' line."""

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
