"""Built-in LLM backends; importing this package registers them."""

from chains.backends import extractive, fake, local, openai_api  # noqa: F401
