"""newsletter — a self-hosted digest mailer for research papers and any feed."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/newsletter-digest/newsletter"
