"""Measuring: tokens and cost of queries, the ledger, evaluation harnesses and their reports."""
