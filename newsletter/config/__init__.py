"""Configuration: YAML files and environment, validated once into typed objects."""

from newsletter.config.env import Environment, read_environment
from newsletter.config.errors import ConfigError, Problem
from newsletter.config.loader import Config, load_config

__all__ = ["Config", "ConfigError", "Environment", "Problem", "load_config", "read_environment"]
