"""``azure``: Azure OpenAI through langchain-openai's ``AzureChatOpenAI``.

Reads ``extra["endpoint"]``, ``extra["deployment"]`` and ``extra["api_version"]``
(``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_DEPLOYMENT``, ``OPENAI_API_VERSION``)
and the key (``AZURE_OPENAI_API_KEY``). ``azure:NAME`` picks the deployment.
"""

from __future__ import annotations

from chains.backends.openai_api import INSTALL_HINT, import_langchain_openai, openai_llm
from chains.llm import LLM
from chains.errors import BackendError
from chains.registry import BackendOptions, register_llm

DEFAULT_API_VERSION = "2024-10-21"


@register_llm(
    "azure",
    description="Azure OpenAI (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_DEPLOYMENT, OPENAI_API_VERSION).",
    install_hint=INSTALL_HINT,
)
def _azure(options: BackendOptions) -> LLM:
    lc = import_langchain_openai()  # a missing package is the first thing to fix
    endpoint = str(options.extra.get("endpoint") or "").rstrip("/")
    deployment = options.model or str(options.extra.get("deployment") or "")
    missing = [
        name
        for name, value in (
            ("AZURE_OPENAI_ENDPOINT", endpoint),
            ("AZURE_OPENAI_API_KEY", options.api_key),
            ("AZURE_OPENAI_DEPLOYMENT", deployment),
        )
        if not value
    ]
    if missing:
        raise BackendError(f"The azure backend needs {', '.join(missing)}: set them in .env or the environment")
    chat = lc.AzureChatOpenAI(
        azure_endpoint=endpoint,
        azure_deployment=deployment,
        api_key=options.api_key,
        api_version=str(options.extra.get("api_version") or DEFAULT_API_VERSION),
        temperature=options.temperature,
        max_completion_tokens=options.max_tokens,
        timeout=options.timeout,
        max_retries=options.max_retries,
        stream_usage=True,
    )
    llm = openai_llm(chat, options, "azure", deployment, key_setting="AZURE_OPENAI_API_KEY",
                     model_setting="AZURE_OPENAI_DEPLOYMENT")
    llm.label = f"azure:{deployment}"
    return llm
