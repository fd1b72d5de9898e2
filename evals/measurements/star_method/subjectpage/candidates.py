"""The questions subject-page answers or the year-noun date type can change: question_subject(q) is
set, or q names a year as a noun ("birth year", "year of his death"). usage: candidates.py IN OUT"""

from __future__ import annotations

import json
import re
import sys

from tools.answer_types import YEAR_NOUN, question_subject

CHANGED = re.compile(YEAR_NOUN + r"|^(?:what|which) decade\b|\bin (?:what|which) decade\b")


def main(src: str, dst: str) -> None:
    with open(dst, "w", encoding="utf-8") as out:
        for line in open(src, encoding="utf-8"):
            q = json.loads(line)["question"]
            if question_subject(q) or CHANGED.search(" ".join(q.casefold().split())):
                out.write(line)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
