"""The auxiliary LLM side: encoders and generators, a content-addressed cache, and the artefacts
models consume (item embeddings, user profiles, semantic IDs). Models never call an LLM: they
load these artefacts as tensors. Every artefact records the backend that made it."""
