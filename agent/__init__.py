"""deepstar's public API: the research agent, its configuration and results."""

from agent.api import ResearchAgent, ResearchResult
from agent.config import AgentConfig, load_config

__all__ = ["AgentConfig", "ResearchAgent", "ResearchResult", "load_config"]
