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


def byte_level_qwen_tokenizer(special_tokens: tuple[str, ...]) -> Any:
    """A byte-level Qwen tokenizer without merges (any UTF-8 text, Chinese included, is one
    token per byte), its special tokens first: the last ends a text, the others are added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import Qwen2TokenizerFast

    vocab = {token: index for index, token in enumerate(special_tokens)}
    # sorted: alphabet() comes in a different order on every call, and token ids must not
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(char, len(vocab))
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    end = special_tokens[-1]
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=bpe, unk_token=None, bos_token=None, eos_token=end, pad_token=end
    )
    if len(special_tokens) > 1:
        tokenizer.add_special_tokens({"additional_special_tokens": list(special_tokens[:-1])})
    return tokenizer
