"""From a question to passages: search modes over the index and the LangChain retriever."""
