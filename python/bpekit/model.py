"""Which encoding an OpenAI model uses: tiktoken's ``encoding_for_model`` and
``encoding_name_for_model``, with the same tables (tiktoken 0.14), so that code written
for tiktoken finds the same encoding here.

>>> encoding_name_for_model("gpt-4o-2024-05-13")
'o200k_base'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Encoding

#: Model name prefix -> encoding name, tried in this order after an exact name.
MODEL_PREFIX_TO_ENCODING: dict[str, str] = {
    "o1-": "o200k_base",
    "o3-": "o200k_base",
    "o4-mini-": "o200k_base",
    "gpt-5": "o200k_base",
    "gpt-4.5-": "o200k_base",
    "gpt-4.1-": "o200k_base",
    "chatgpt-4o-": "o200k_base",
    "gpt-4o-": "o200k_base",
    "gpt-4-": "cl100k_base",
    "gpt-3.5-turbo-": "cl100k_base",
    "gpt-35-turbo-": "cl100k_base",  # Azure deployment names
    "gpt-oss-": "o200k_harmony",
    "ft:gpt-4o": "o200k_base",  # fine-tuned models
    "ft:gpt-4": "cl100k_base",
    "ft:gpt-3.5-turbo": "cl100k_base",
    "ft:davinci-002": "cl100k_base",
    "ft:babbage-002": "cl100k_base",
}

_R50K = (
    "text-davinci-001 text-curie-001 text-babbage-001 text-ada-001 davinci curie babbage ada "
    "text-similarity-davinci-001 text-similarity-curie-001 text-similarity-babbage-001 "
    "text-similarity-ada-001 text-search-davinci-doc-001 text-search-curie-doc-001 "
    "text-search-babbage-doc-001 text-search-ada-doc-001 code-search-babbage-code-001 "
    "code-search-ada-code-001"
)
_P50K = (
    "text-davinci-003 text-davinci-002 code-davinci-002 code-davinci-001 code-cushman-002 "
    "code-cushman-001 davinci-codex cushman-codex"
)
_CL100K = (
    "gpt-4 gpt-3.5-turbo gpt-3.5 gpt-35-turbo davinci-002 babbage-002 text-embedding-ada-002 "
    "text-embedding-3-small text-embedding-3-large"
)

#: Exact model name -> encoding name.
MODEL_TO_ENCODING: dict[str, str] = {
    **dict.fromkeys("o1 o3 o4-mini gpt-5 gpt-4.1 gpt-4o".split(), "o200k_base"),
    **dict.fromkeys(_CL100K.split(), "cl100k_base"),
    **dict.fromkeys(_P50K.split(), "p50k_base"),
    **dict.fromkeys(_R50K.split(), "r50k_base"),
    **dict.fromkeys("text-davinci-edit-001 code-davinci-edit-001".split(), "p50k_edit"),
    "gpt2": "gpt2",
    "gpt-2": "gpt2",
}


def encoding_name_for_model(model_name: str) -> str:
    """The name of the encoding ``model_name`` uses: an exact name first, then the first
    matching prefix (so new versions of a model family resolve without an update, and
    so can names of models that do not exist). ``KeyError`` for an unknown model."""
    if model_name in MODEL_TO_ENCODING:
        return MODEL_TO_ENCODING[model_name]
    for prefix, name in MODEL_PREFIX_TO_ENCODING.items():
        if model_name.startswith(prefix):
            return name
    raise KeyError(
        f"Could not automatically map {model_name} to a tokeniser. "
        "Please use `tiktoken.get_encoding` to explicitly get the tokeniser you expect."
    ) from None


def encoding_for_model(model_name: str) -> Encoding:
    """The encoding ``model_name`` uses (:func:`bpekit.get_encoding` of
    :func:`encoding_name_for_model`); ``KeyError`` for an unknown model."""
    from ._registry import get_encoding

    return get_encoding(encoding_name_for_model(model_name))
