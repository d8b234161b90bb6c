"""The real JPEG codec on image batches, QF sampling, and the gradients attacks take through it.

Three ways to differentiate "compress with JPEG", because the codec itself has no gradient:
``jpeg_bpda`` (identity backward, the paper's BPDA), ``jpeg_surrogate`` (real forward, backward
of kornia's differentiable JPEG) and ``jpeg_differentiable`` (kornia's approximation both ways).

Default codec: simplejpeg 1.9 (libjpeg-turbo 3.1.2 through its TurboJPEG API). Against Pillow 12
(the same libjpeg-turbo through libjpeg's API, as in the authors' 2021 code of the defense; the
decoders agree bit for bit, the encoders differ): TurboJPEG uses libjpeg's fast integer forward
DCT below QF 96 and the accurate one from QF 96, Pillow always the accurate one, so

- QF >= 96: bit-identical to Pillow;
- QF < 96: some quantized DCT coefficients round the other way, within the bounds of
  cnr.jpeg.codec's constants on natural images (``tests/test_jpeg.py`` checks them; the measured
  differences, per batch, image, block and in PSNR, are in benchmarks/NOTES.md).

``backend="pillow"`` gives Pillow's output exactly, more slowly (benchmarks/bench_jpeg.py --pillow).

The package: quality (QF checks and draws), codec (the real codec), gradients (the three differentiable views).
"""
from cnr.jpeg.codec import (
                            BACKENDS,
                            JPEG_MAX_SIDE,
                            MIN_SIZE,
                            PILLOW_EXACT_FROM_QF,
                            PILLOW_MAX_BATCH_MEAN_ABS,
                            PILLOW_MAX_IMAGE_MEAN_ABS,
                            jpeg_roundtrip,
                            num_threads,
)
from cnr.jpeg.gradients import (
                            KORNIA_BLOCK,
                            KORNIA_MAX_MEAN_ABS,
                            KORNIA_MAX_MEAN_ABS_QF50,
                            jpeg_bpda,
                            jpeg_differentiable,
                            jpeg_surrogate,
)
from cnr.jpeg.quality import QF_MAX, QF_MIN, sample_qf

__all__ = ["BACKENDS", "JPEG_MAX_SIDE", "KORNIA_BLOCK", "KORNIA_MAX_MEAN_ABS", "KORNIA_MAX_MEAN_ABS_QF50", "MIN_SIZE",
           "PILLOW_EXACT_FROM_QF", "PILLOW_MAX_BATCH_MEAN_ABS", "PILLOW_MAX_IMAGE_MEAN_ABS", "QF_MAX", "QF_MIN",
           "jpeg_bpda", "jpeg_differentiable", "jpeg_roundtrip", "jpeg_surrogate", "num_threads", "sample_qf"]
