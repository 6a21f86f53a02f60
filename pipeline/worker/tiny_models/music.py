"""A tiny ACE-Step text-to-music pipeline, the layout of `ACE-Step/Ace-Step1.5` in diffusers:
loaded back with `DiffusionPipeline.from_pretrained(directory)`. Its VAE turns 25 latent
frames into a second of 48 kHz stereo, as the real one does; its music is noise (its prompt
barely changes it, a seed does).
"""

from __future__ import annotations

from pathlib import Path


def make_tiny_music_model(directory: Path) -> Path:
    """Build the tiny pipeline with fixed random weights, save it to directory, return it."""
    import torch
    from diffusers import (
        AceStepPipeline,
        AceStepTransformer1DModel,
        AutoencoderOobleck,
        FlowMatchEulerDiscreteScheduler,
    )
    from diffusers.pipelines.ace_step import AceStepConditionEncoder
    from transformers import Qwen3Config, Qwen3Model

    from pipeline.worker.tiny_models.text_encoders import byte_level_qwen_tokenizer

    directory = Path(directory)
    tokenizer = byte_level_qwen_tokenizer(("<|endoftext|>",))
    attention = {"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8}
    torch.manual_seed(0)
    transformer = AceStepTransformer1DModel(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, in_channels=24,
        audio_acoustic_hidden_dim=8, patch_size=2, rope_theta=10000.0, sliding_window=16,
        **attention,
    )  # fmt: skip
    torch.manual_seed(0)
    text_config = Qwen3Config(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=4096, **attention,
    )  # fmt: skip
    text_encoder = Qwen3Model(text_config)
    torch.manual_seed(0)
    condition_encoder = AceStepConditionEncoder(
        hidden_size=32, intermediate_size=64, text_hidden_dim=32, timbre_hidden_dim=8,
        num_lyric_encoder_hidden_layers=1, num_timbre_encoder_hidden_layers=1,
        rope_theta=10000.0, sliding_window=16, **attention,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderOobleck(
        encoder_hidden_size=4,
        downsampling_ratios=[2, 4, 4, 6, 10],  # 1920 samples a latent frame: 25 a second
        decoder_channels=4,
        decoder_input_channels=8,
        audio_channels=2,
        channel_multiples=[1, 1, 1, 1, 1],
        sampling_rate=48000,
    )
    # its decoder's weights start too small for the latents to matter: grown, so that
    # another seed (or mood) is other music, as with a trained model
    with torch.no_grad():
        for name, weights in vae.decoder.named_parameters():
            if name.endswith(("weight_g", "original0")):
                weights.mul_(4.0)
    # models built from configs start in training mode (dropout on); a loaded model would not
    for model in (transformer, text_encoder, condition_encoder, vae):
        model.eval()
    pipeline = AceStepPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,  # type: ignore[arg-type]
        transformer=transformer,
        condition_encoder=condition_encoder,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory)
    return directory
