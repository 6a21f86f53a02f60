"""The tiny T5 text encoder (and its offline tokenizer) that the tiny video models share."""

from __future__ import annotations

from typing import Any


def _t5_tokenizer(max_length: int) -> object:
    """A T5 (Unigram) tokenizer over single characters: no SentencePiece file, no download."""
    import string

    from transformers import T5TokenizerFast

    pieces = ["▁", *string.ascii_letters, *string.digits, *string.punctuation]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(p, -1.0) for p in pieces]
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=max_length)


def tiny_t5(max_length: int, umt5: bool = False) -> tuple[Any, Any]:
    """The offline tokenizer and a one-layer T5 (or UMT5, as Wan uses) text encoder."""
    import torch
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    tokenizer = _t5_tokenizer(max_length)
    config_class, model_class = (
        (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    )
    text_encoder = model_class(
        config_class(
            vocab_size=len(tokenizer),  # type: ignore[arg-type]
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
        )
    )
    return tokenizer, text_encoder
