"""The few HTML pages of the unsubscribe app: plain, accessible, escaped, readable on a phone.

Templates live here as strings (no template folder to package); Jinja autoescaping
is on, so an address or title can never inject markup.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ heading }} · {{ title }}</title>
<style>
:root { color-scheme: light dark; }
body { font: 1.0625rem/1.5 system-ui, sans-serif; max-width: 34rem; margin: 3rem auto;
       padding: 0 1.25rem; }
h1 { font-size: 1.5rem; }
button { font: inherit; padding: .6rem 1.2rem; border-radius: .4rem; cursor: pointer;
         border: 2px solid currentColor; }
button:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
.note { opacity: .85; font-size: .95rem; }
</style>
</head>
<body>
<main>
<h1>{{ heading }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>
"""

_PAGES = {
    "confirm": """
<p>Stop sending <strong>{{ title }}</strong> to <strong>{{ email }}</strong>?</p>
<form method="post" action="{{ unsubscribe_url }}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>
<p class="note">Nothing changes until you press the button.</p>
""",
    "already": """
<p><strong>{{ email }}</strong> is already unsubscribed from <strong>{{ title }}</strong>
and gets no digests.</p>
<form method="post" action="{{ resubscribe_url }}">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Resubscribe</button>
</form>
""",
    "unsubscribed": """
<p role="status"><strong>{{ email }}</strong> will get no more <strong>{{ title }}</strong>
digests.</p>
<p>Changed your mind?</p>
<form method="post" action="{{ resubscribe_url }}">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Resubscribe</button>
</form>
""",
    "resubscribed": """
<p role="status"><strong>{{ email }}</strong> will get <strong>{{ title }}</strong>
digests again, starting with the next one.</p>
<form method="post" action="{{ unsubscribe_url }}">
<button type="submit">Unsubscribe again</button>
</form>
""",
    "error": """
<p role="alert">{{ reason }}</p>
<p class="note">{{ advice }}</p>
""",
}

_templates = {
    name: _env.from_string(_LAYOUT.replace("{% block content %}{% endblock %}", body))
    for name, body in _PAGES.items()
}


def render(page: str, **context: Any) -> str:
    """Render one page; every value is HTML-escaped."""
    return _templates[page].render(**context)
