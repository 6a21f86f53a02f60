"""A tiny randomly initialised Stable-Diffusion-style pipeline, for tests and offline demos.

Built from configs (nothing is downloaded), saved with save_pretrained, and loaded back like
any real model: `AutoPipelineForText2Image.from_pretrained(directory)`. Its pictures are noise,
but every code path of a real text-to-image render runs. Worker side only: imports torch.
"""

from __future__ import annotations

from pathlib import Path

# The UNet's native latent size; times the VAE's scale factor (2) this is a 112 px long side,
# so a default 9:16 keyframe is 64x112.
SAMPLE_SIZE = 56


def _tokenizer() -> object:
    """A byte-level CLIP BPE tokenizer without merges: every byte is one token."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in pre_tokenizers.ByteLevel.alphabet():
        # CLIP's BPE marks the last piece of a word with "</w>"
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(f"{char}</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def make_tiny_model(directory: Path) -> Path:
    """Build the tiny pipeline with fixed random weights, save it to directory, return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    directory = Path(directory)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=SAMPLE_SIZE,
        in_channels=4,
        out_channels=4,
        # attention only at the coarsest level: CPU attention kernels dominate otherwise
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=SAMPLE_SIZE * 2,
    )
    torch.manual_seed(0)
    tokenizer = _tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),  # type: ignore[arg-type]
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            projection_dim=32,
        )
    )
    # models built from configs start in training mode (dropout on); a loaded model would not
    for model in (unet, vae, text_encoder):
        model.eval()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,  # type: ignore[arg-type]
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory)
    return directory
