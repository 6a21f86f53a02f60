"""Tiny video pipelines: LTX-Video, CogVideoX and Wan, each as the real family is built."""

from __future__ import annotations

from pathlib import Path

from pipeline.worker.tiny_models.text_encoders import tiny_t5


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
    tokenizer, text_encoder = tiny_t5(max_length=128)
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
    tokenizer, text_encoder = tiny_t5(max_length=226)
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
    tokenizer, text_encoder = tiny_t5(max_length=128, umt5=True)
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
