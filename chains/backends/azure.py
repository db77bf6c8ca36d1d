"""``azure``: Azure OpenAI through the openai package's ``AzureOpenAI`` client.

Reads ``extra["endpoint"]``, ``extra["deployment"]`` and ``extra["api_version"]``
(``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_DEPLOYMENT``, ``OPENAI_API_VERSION``)
and the key (``AZURE_OPENAI_API_KEY``). ``azure:NAME`` picks the deployment.
"""

from __future__ import annotations

from dataclasses import replace

from chains.backend import AnswerBackend
from chains.backends.openai_api import OpenAIBackend, import_openai
from chains.registry import BackendError, BackendOptions, register_llm

DEFAULT_API_VERSION = "2024-10-21"


class AzureBackend(OpenAIBackend):
    """Chat completions on an Azure OpenAI deployment."""

    name = "azure"
    model_setting = "AZURE_OPENAI_DEPLOYMENT"
    key_setting = "AZURE_OPENAI_API_KEY"

    def __init__(self, options: BackendOptions) -> None:
        openai = import_openai()  # a missing package is the first thing to fix
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
        api_version = str(options.extra.get("api_version") or DEFAULT_API_VERSION)
        client = openai.AzureOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment,
            api_key=options.api_key,
            api_version=api_version,
            timeout=options.timeout,
            max_retries=0,
        )
        super().__init__(replace(options, model=deployment), client=client, base_url=f"{endpoint}/openai/deployments/{deployment}")


@register_llm(
    "azure",
    description="Azure OpenAI (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_DEPLOYMENT, OPENAI_API_VERSION).",
    install_hint="pip install 'rag-app[openai]'",
)
def _azure(options: BackendOptions) -> AnswerBackend:
    return AzureBackend(options)
