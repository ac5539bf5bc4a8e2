"""`check`: everything that can be validated without sending, in one pass."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import ConfigError, Environment, Problem, load_config
from newsletter.config.env import MAKE_SECRET, SECRET_GOOD, secret_problem
from newsletter.config.errors import display_path


def check_query(query: str) -> str | None:
    """None for a valid topic query, else the problem with the query and a caret under it."""
    from newsletter.match import QuerySyntaxError, parse

    try:
        parse(query)
    except QuerySyntaxError as exc:
        return f"{exc.message} (column {exc.column + 1})\n{exc.caret()}"
    return None


def semantic_problem() -> str | None:
    """Why ``about:`` topics cannot run here (the optional extra is missing), or None."""
    from newsletter.match.semantic import SemanticUnavailableError, require_semantic

    try:
        require_semantic()
    except SemanticUnavailableError as exc:
        return f"{exc} — or remove about: from the topic"
    return None


def check_everything(path: Path, env: Environment) -> tuple[list[Problem], str]:
    """Return (problems, summary). Problems are fatal; the summary also lists warnings."""
    from newsletter.render import check_templates
    from newsletter.render import errors as render_errors
    from newsletter.run.messages import render_settings

    try:
        config = load_config(path, query_checker=check_query, semantic_problem=semantic_problem)
    except ConfigError as exc:
        return exc.problems, ""
    problems: list[Problem] = []
    for line in check_templates(render_settings(config)):
        problems.append(Problem(*render_errors.parts(line)))
    warnings = []
    if env.secret:
        trouble = secret_problem(env.secret)
        if trouble is not None:
            problems.append(Problem(env.source, None, trouble))
        elif len(env.secret) < SECRET_GOOD:
            warnings.append(
                f"warning: NEWSLETTER_SECRET is {len(env.secret)} characters; "
                f"{SECRET_GOOD} or more make forged links hopeless — `{MAKE_SECRET}` "
                "(changing it invalidates links already mailed)"
            )
    for feed in config.feeds:
        if "://" not in feed.url and not config.resolve(feed.url).exists():
            warnings.append(
                f"warning: feed {feed.name!r}: {display_path(config.resolve(feed.url))} does not "
                "exist yet (for the sample feed run `python -m newsletter demo-feed`)"
            )
    topics = {t.id for s in config.subscribers for t in s.topics}
    summary = "\n".join(
        [
            *warnings,
            f"{display_path(config.path)}: OK — {len(config.feeds)} feeds, "
            f"{len(config.schedules)} schedules, {len(config.subscribers)} subscribers, "
            f"{len(topics)} distinct topics",
        ]
    )
    return problems, summary
