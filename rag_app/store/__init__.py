"""The index on disk: Chroma, the records of what was indexed, the search side, the writer's lock."""
