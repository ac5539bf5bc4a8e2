"""The small web app behind the unsubscribe links: Flask pages served by waitress."""

from newsletter.web.app import Suppressions, create_app
from newsletter.web.server import running, serve

__all__ = ["Suppressions", "create_app", "running", "serve"]
