"""A tiny VibeVoice text-to-speech model (processor and weights), the layout of
`vibevoice/VibeVoice-1.5B-hf`: loaded back with `AutoProcessor` and
`AutoModelForTextToWaveform.from_pretrained(directory)`.

Its language head is zeroed, so that every step picks the first token its generation allows,
the speech token (id 0 here): it speaks until the frame limit it is given, as a trained model
speaks until its line is done. A random head would stop at a random frame. Its sound is noise.
"""

from __future__ import annotations

from pathlib import Path

# the speech token first (see above), the end of a text last; the processor's defaults name them
SPECIAL_TOKENS = ("<|vision_pad|>", "<|vision_start|>", "<|vision_end|>", "<|endoftext|>")
HOP = 3200  # audio samples per speech frame at 24 kHz: 7.5 frames a second, as the real model

# The conversation as the checkpoints' template lays it out: the voices to clone, the lines by
# speaker, then the start of the speech.
CHAT_TEMPLATE = (
    " Transform the text provided by various speakers into speech output, utilizing the"
    " distinct voice of each respective speaker.\n"
    "{%- set ns = namespace(cloned=[]) -%}"
    "{%- for message in messages -%}"
    "{%- if message['content'] | selectattr('type', 'equalto', 'audio') | list"
    " and message['role'] not in ns.cloned -%}"
    "{%- set ns.cloned = ns.cloned + [message['role']] -%}{%- endif -%}{%- endfor -%}"
    "{%- if ns.cloned %} Voice input:\n"
    "{%- for role in ns.cloned %} Speaker {{ role }}:<|vision_start|><|vision_pad|>"
    "<|vision_end|>\n{% endfor -%}{%- endif %} Text input:\n"
    "{%- for message in messages -%}"
    "{%- for item in message['content'] | selectattr('type', 'equalto', 'text') %}"
    " Speaker {{ message['role'] }}: {{ item['text'] }}\n{% endfor -%}{%- endfor %}"
    " Speech output:\n<|vision_start|>"
)


def make_tiny_speech_model(directory: Path) -> Path:
    """Build the tiny model with fixed random weights, save it to directory, return it."""
    import torch
    from transformers import (
        Qwen2Config,
        VibeVoiceAcousticTokenizerConfig,
        VibeVoiceAcousticTokenizerEncoderConfig,
        VibeVoiceAcousticTokenizerFeatureExtractor,
        VibeVoiceConfig,
        VibeVoiceDiffusionHeadConfig,
        VibeVoiceForConditionalGeneration,
        VibeVoiceProcessor,
    )

    from pipeline.worker.tiny_models.text_encoders import byte_level_qwen_tokenizer

    directory = Path(directory)
    tokenizer = byte_level_qwen_tokenizer(SPECIAL_TOKENS)
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))  # type: ignore[attr-defined]
    text = Qwen2Config(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096,
    )  # fmt: skip
    # 3200 samples a frame, as HOP says; weights drawn wide enough (the real ones start near
    # zero for training) that a reference clip changes what is spoken
    codec = {"num_filters": 4, "downsampling_ratios": [2, 4, 5, 8, 10], "depths": [1] * 6,
             "initializer_range": 0.5, "layer_scale_init_value": 1.0}  # fmt: skip
    audio = VibeVoiceAcousticTokenizerConfig(hidden_size=8, **codec)
    semantic = VibeVoiceAcousticTokenizerEncoderConfig(hidden_size=16, **codec)
    config = VibeVoiceConfig(
        text_config=text.to_dict(),
        audio_config=audio.to_dict(),
        semantic_model_config=semantic.to_dict(),
        diffusion_head_config=VibeVoiceDiffusionHeadConfig(
            num_hidden_layers=1, intermediate_size=64
        ).to_dict(),
        audio_token_id=ids[0], audio_bos_token_id=ids[1], audio_eos_token_id=ids[2],
        eos_token_id=ids[3], pad_token_id=ids[3],
    )  # fmt: skip
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = VibeVoiceForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.lm_head.weight.zero_()
        # the diffusion head's modulation starts at zero (for training): drawn instead, so that
        # what is spoken depends on the line and the voice, not on the noise alone
        for weights in model.model.diffusion_head.parameters():
            if weights.dim() > 1:
                torch.nn.init.normal_(weights, std=0.3, generator=generator)
    model.generation_config.num_diffusion_steps = 2
    features = VibeVoiceAcousticTokenizerFeatureExtractor(
        sampling_rate=24000, normalize_audio=True, target_dB_FS=-25, eps=1e-6,
        pad_to_multiple_of=HOP,
    )  # fmt: skip
    processor = VibeVoiceProcessor(
        feature_extractor=features, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    directory.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
