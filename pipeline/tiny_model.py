"""A tiny randomly initialised Stable-Diffusion-style pipeline, for tests and offline demos.

Built from configs (nothing is downloaded), saved with save_pretrained, and loaded back like
any real model: `AutoPipelineForText2Image.from_pretrained(directory)`. Its pictures are noise,
but every code path of a real text-to-image render runs. Worker side only: imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

    from pipeline.engines.diffusers_keyframe import ADAPTER_FOLDER, ADAPTER_WEIGHTS

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


def _t5_tokenizer(max_length: int) -> object:
    """A T5 (Unigram) tokenizer over single characters: no SentencePiece file, no download."""
    import string

    from transformers import T5TokenizerFast

    pieces = ["▁", *string.ascii_letters, *string.digits, *string.punctuation]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(p, -1.0) for p in pieces]
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=max_length)


def _tiny_t5(max_length: int, umt5: bool = False) -> tuple[Any, Any]:
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


def make_tiny_video_model(directory: Path) -> Path:
    """Build a tiny LTX-Video image-to-video pipeline, save it to directory, return it.

    Its VAE compresses like the real LTX-Video (32x in space, 8x in time), so sizes must be
    multiples of 32 and frame counts 8k+1, as with the real model. LTXPipeline (text-to-video)
    loads from the same folder's components.
    """
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )

    directory = Path(directory)
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=1,
        caption_channels=16,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        # patch 4 x 2^3 = 32x in space, 1 x 2^3 = 8x in time: the real model's ratios
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    tokenizer, text_encoder = _tiny_t5(max_length=128)
    for model in (transformer, vae, text_encoder):
        model.eval()
    pipeline = LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,  # type: ignore[arg-type]
        transformer=transformer,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory)
    return directory


def make_tiny_cogvideox_model(
    directory: Path, *, image_to_video: bool = True, version: str = "1.0"
) -> Path:
    """Build a tiny CogVideoX pipeline, save it to directory, return it.

    CogVideoX ships text-to-video and image-to-video as separate checkpoints: the image-to-video
    transformer takes the start image's latents beside the noise (twice the input channels), so
    one folder does one task, as here (image_to_video picks which). version "1.0" is shaped like
    CogVideoX-5b / -5b-I2V (the I2V one has positional embeddings learned for one size and
    length: 96x64 px and 9 frames here, as the real one is 720x480 and 49), "1.5" like
    CogVideoX1.5-5B(-I2V) (temporal patches of 2 latent frames, any size). The VAE compresses
    like the real one (8x in space, 4x in time).
    """
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    if version not in ("1.0", "1.5"):
        raise ValueError(f"version {version!r} must be '1.0' or '1.5'")
    directory = Path(directory)
    latent_channels = 4
    version_15 = version == "1.5"
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=latent_channels * (2 if image_to_video else 1),
        out_channels=latent_channels,
        time_embed_dim=8,
        ofs_embed_dim=8 if version_15 and image_to_video else None,
        text_embed_dim=16,
        num_layers=1,
        # 1.5: rotary embeddings are sliced from a 300 x 300 latent grid, as in the real one
        sample_width=300 if version_15 else 12,
        sample_height=300 if version_15 else 8,
        sample_frames=81 if version_15 else 9,
        patch_size=2,
        patch_size_t=2 if version_15 else None,
        patch_bias=not version_15,
        temporal_compression_ratio=4,
        max_text_seq_length=226,  # the pipelines' default max_sequence_length
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=image_to_video and not version_15,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        block_out_channels=(8, 8, 8, 8),  # 4 blocks: 2^3 = 8x in space
        latent_channels=latent_channels,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        sample_width=96,
        sample_height=64,
    )
    tokenizer, text_encoder = _tiny_t5(max_length=226)
    for model in (transformer, vae, text_encoder):
        model.eval()
    # the scheduler settings of the CogVideoX-5b checkpoints
    scheduler = CogVideoXDDIMScheduler(
        beta_schedule="scaled_linear",
        clip_sample=False,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        set_alpha_to_one=True,
        snr_shift_scale=1.0,
        steps_offset=0,
        timestep_spacing="trailing",
    )
    pipeline_class = CogVideoXImageToVideoPipeline if image_to_video else CogVideoXPipeline
    pipeline = pipeline_class(
        tokenizer=tokenizer,  # type: ignore[arg-type]
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=scheduler,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory)
    return directory


def make_tiny_wan_model(directory: Path, kind: str = "ti2v") -> Path:
    """Build a tiny Wan pipeline, save it to directory, return it.

    kind "ti2v" is shaped like Wan2.2-TI2V-5B: a WanPipeline with expand_timesteps, whose one
    transformer does text-to-video and, through WanImageToVideoPipeline.from_pipe, image-to-video
    (the start image's latents replace the first latent frame; no CLIP image encoder). kind "t2v"
    is the same without expand_timesteps, like Wan2.1-T2V: text-to-video only. kind "i2v"
    is shaped like Wan2.1-I2V: a WanImageToVideoPipeline whose transformer takes the start
    image's latents and mask beside the noise (36 channels in) and a CLIP image encoder's
    embeddings; it does image-to-video only. kind "vace" is a WanVACEPipeline (Wan2.1-VACE):
    text-to-video conditioned on reference images, and on a start frame through its video and
    mask inputs.
    The VAE is Wan 2.1's (8x in space, 4x in time; the transformer's patch is 2), so sizes are
    multiples of 16 and frame counts 4k+1, as with the real models.
    """
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
    )

    if kind not in ("ti2v", "t2v", "i2v", "vace"):
        raise ValueError(f"kind {kind!r} must be 'ti2v', 't2v', 'i2v' or 'vace'")
    directory = Path(directory)
    shape = {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 2,
        "attention_head_dim": 8,
        "in_channels": 16,
        "out_channels": 16,
        "text_dim": 16,
        "freq_dim": 32,
        "ffn_dim": 32,
        "num_layers": 1,
        "rope_max_seq_len": 1024,  # the real models': any render size works
    }
    torch.manual_seed(0)
    if kind == "vace":
        # control input: the video's kept and generated latents (2 x 16) + the 8x8 mask (64)
        transformer = WanVACETransformer3DModel(**shape, vace_layers=[0], vace_in_channels=96)
    elif kind == "i2v":
        # noise (16) + the start image's latents (16) + its mask (4 frames per latent frame)
        transformer = WanTransformer3DModel(
            **{**shape, "in_channels": 36}, image_dim=8, added_kv_proj_dim=16
        )
    else:
        transformer = WanTransformer3DModel(**shape)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=4,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    tokenizer, text_encoder = _tiny_t5(max_length=128, umt5=True)
    for model in (transformer, vae, text_encoder):
        model.eval()
    parts = {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae}
    if kind == "vace":
        # the scheduler Wan2.1-VACE ships with
        scheduler = UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        )
        pipeline = WanVACEPipeline(**parts, scheduler=scheduler, transformer=transformer)
    elif kind == "i2v":
        torch.manual_seed(0)
        image_encoder = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=8,
                intermediate_size=16,
                projection_dim=8,
                num_hidden_layers=2,
                num_attention_heads=2,
                image_size=32,
                patch_size=8,
            )
        ).eval()
        pipeline = WanImageToVideoPipeline(
            **parts,
            scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
            image_processor=CLIPImageProcessor(crop_size=32, size=32),
            image_encoder=image_encoder,
            transformer=transformer,
        )
    else:
        pipeline = WanPipeline(
            **parts,
            scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
            transformer=transformer,
            expand_timesteps=kind == "ti2v",
        )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory)
    return directory
