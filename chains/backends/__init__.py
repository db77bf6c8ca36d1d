"""Built-in LLM backends; importing this package registers them."""

from chains.backends import extractive, fake, hf, local, openai_api  # noqa: F401
