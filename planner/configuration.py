"""The research graph's settings (built from AgentConfig at the edge)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PlannerConfig"]


@dataclass(frozen=True)
class PlannerConfig:
    mode: Literal["plan", "react"] = "plan"
    max_steps: int = 24  # model calls per run, all branches together
    max_subquestions: int = 3  # sub-questions of one plan (reflect adds within the same total)
    max_plan_depth: int = 3  # the longest dependency chain: q1 needs q0 is depth 2
    max_plan_width: int = 3  # research branches dispatched at once
    max_tool_calls_per_branch: int = 6
    max_reflect_rounds: int = 1
    max_total_tokens: int = 200_000
    max_wall_clock_s: float = 1800.0
    max_invalid_outputs: int = 3
    model: str | None = None  # the model or LoRA adapter name, per call
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    max_tokens_per_call: int = 256
    exemplars: str | None = None  # few-shot worked examples appended to the system prompt
    # 'composed': the model writes the report's prose from the sources (capable endpoints);
    # 'extractive': answer, findings with their page sentences, sources (the bundled model)
    report: Literal["extractive", "composed"] = "extractive"
    max_report_tokens: int = 1024  # completion tokens of the composed report's one call
    # the answer argument is held by the grammar to the shape the question asks for (a date for
    # a when-question, a number for a how-many one): tools.answer_types
    typed_answers: bool = True
    # `open` lists the page's sentences closest to the branch's question above the text: a
    # small model copies its evidence from there instead of quoting the description line
    focus_reading: bool = True
    # answer-span selection: the answer call's grammar holds the URL to a page the branch read,
    # the quote to one of its sentences and the answer to a span of that quote (prompts.answer_tool)
    answer_spans: bool = False
    # a question asking for a date, a number or a measure of a named subject (question_subject:
    # "In what year was the Eiffel Tower completed?") is answered once the branch has read the
    # subject's own page and it offers an answer of that shape: the next call is `answer`,
    # forced through the grammar as on a branch's last turn (no hop to another page)
    subject_page_answers: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("plan", "react"):
            raise ValueError(f"mode must be 'plan' or 'react', got {self.mode!r}")
        if self.report not in ("extractive", "composed"):
            raise ValueError(f"report must be 'extractive' or 'composed', got {self.report!r}")
        for name in ("max_steps", "max_subquestions", "max_plan_depth", "max_plan_width", "max_tool_calls_per_branch",
                     "max_invalid_outputs", "max_report_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def sampling(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed,
                "max_tokens": self.max_tokens_per_call}
