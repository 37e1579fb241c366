"""vaecourse: the helper package behind the interactive VAE course."""

__version__ = "0.1.0"
REPO_URL = "https://github.com/vaecourse/vaecourse"
