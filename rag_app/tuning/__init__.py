"""Fine-tuning and the fine-tune-or-RAG decision: training, knowledge runs, ``advise``."""
