"""A tiny Stable-Diffusion-style text-to-image pipeline, and an IP-Adapter for it.

Loaded back like any real model: `AutoPipelineForText2Image.from_pretrained(directory)`.
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
    # sorted: alphabet() comes in a different order on every call, and token ids must not
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
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


def add_tiny_ip_adapter(model_dir: Path) -> Path:
    """Give the tiny model at model_dir a tiny random IP-Adapter; return the weights file.

    Laid out like h94/IP-Adapter: `ip_adapter/ip-adapter.safetensors` (image projection and the
    cross-attention key/value weights, in the original IP-Adapter key names) beside
    `ip_adapter/image_encoder/` (a CLIPVisionModelWithProjection), so the engine loads it with
    the pipeline's own `load_ip_adapter`.
    """
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from pipeline.worker.engines.diffusers_keyframe import ADAPTER_FOLDER, ADAPTER_WEIGHTS

    model_dir = Path(model_dir)
    unet = UNet2DConditionModel.from_pretrained(model_dir, subfolder="unet")
    cross_dim = int(unet.config.cross_attention_dim)
    folder = model_dir / ADAPTER_FOLDER
    torch.manual_seed(0)
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        )
    ).eval()
    encoder.save_pretrained(folder / "image_encoder")

    generator = torch.Generator().manual_seed(0)

    def weights(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) / shape[-1] ** 0.5

    # the plain IP-Adapter projection: one image embedding -> 4 extra context tokens
    tensors = {
        "image_proj.proj.weight": weights(4 * cross_dim, encoder.config.projection_dim),
        "image_proj.proj.bias": torch.zeros(4 * cross_dim),
        "image_proj.norm.weight": torch.ones(cross_dim),
        "image_proj.norm.bias": torch.zeros(cross_dim),
    }
    # a key/value pair per cross-attention layer, numbered 1, 3, 5... in attn_processors
    # order, as diffusers' UNet loader reads them
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        attention = unet.get_submodule(name.removesuffix(".processor"))
        hidden = attention.to_k.out_features
        tensors[f"ip_adapter.{key_id}.to_k_ip.weight"] = weights(hidden, cross_dim)
        tensors[f"ip_adapter.{key_id}.to_v_ip.weight"] = weights(hidden, cross_dim)
        key_id += 2
    path = folder / ADAPTER_WEIGHTS
    save_file(tensors, str(path))
    return path
