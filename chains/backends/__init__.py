"""Built-in LLM backends; importing this package registers them.

Each module imports its optional package inside the factory, so registering
costs nothing and a missing package only matters when that backend is chosen.
"""

from chains.backends import azure, extractive, fake, hf, local, ollama, openai_api  # noqa: F401
